//! The `herald` command: `serve`, `simulate-carrier`, `send`, `blacklist`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use herald::cli_blacklist::{self, BlacklistArgs};
use herald::cli_send::{self, SendArgs};
use herald::config::Config;
use herald::simulator::{self, SimConfig};
use tokio::net::TcpListener;

// glibc malloc/free were ~15 % of the process's CPU in the end-to-end benchmark (many small,
// short-lived allocations across threads); mimalloc serves those from per-thread pages.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Parser)]
#[command(
    name = "herald",
    version,
    about = "An SMS gateway whose delivery reports you can trust"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gateway. Without --config: SQLite herald.db, HTTP on 127.0.0.1:8080, the simulated
    /// carrier in-process on 127.0.0.1:2775, and a demo account whose password is printed.
    Serve {
        #[arg(long, env = "HERALD_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Run the simulated carrier alone: an SMPP server whose outcomes are scripted by the
    /// destination number (see the README).
    SimulateCarrier {
        #[arg(long, default_value = "127.0.0.1:2775")]
        listen: SocketAddr,
        /// The system_id ESMEs must bind with.
        #[arg(long, default_value = "herald")]
        system_id: String,
        /// The password they must give; any when absent.
        #[arg(long)]
        password: Option<String>,
        /// Milliseconds from submit_sm_resp to the receipt.
        #[arg(long, default_value_t = 1000)]
        receipt_delay_ms: u64,
    },
    /// Send one message and follow it to its final status. Without --url, a gateway is started
    /// in this process on its embedded defaults and the message goes through it.
    Send(SendArgs),
    /// Manage the blacklists (err 008): the global one, or an account's with --account.
    Blacklist(BlacklistArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_logging(matches!(
        cli.command,
        Command::Send(_) | Command::Blacklist(_)
    ));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        match cli.command {
            Command::Serve { config } => serve(config).await,
            Command::SimulateCarrier {
                listen,
                system_id,
                password,
                receipt_delay_ms,
            } => {
                let cfg = SimConfig {
                    system_id,
                    password,
                    receipt_delay: Duration::from_millis(receipt_delay_ms),
                    ..SimConfig::default()
                };
                simulate_carrier(listen, cfg).await
            }
            Command::Send(args) => cli_send::run(args).await,
            Command::Blacklist(args) => {
                let output = cli_blacklist::run(args).await?;
                if !output.is_empty() {
                    println!("{output}");
                }
                Ok(())
            }
        }
    })
}

fn init_logging(quiet: bool) {
    let default = if quiet { "warn" } else { "info" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("HERALD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt().with_env_filter(filter).init();
}

async fn serve(config_path: Option<PathBuf>) -> anyhow::Result<()> {
    let (config, demo_password) = Config::load(config_path.as_deref())?;
    let app = herald::app::start(config.clone()).await?;
    println!("Herald is listening on {}", app.base_url());
    if let Some(password) = demo_password {
        let account = config
            .accounts
            .first()
            .map(|a| a.username.as_str())
            .unwrap_or("demo");
        println!(
            "Embedded defaults: SQLite {}, simulated carrier on {}",
            config.database.url,
            app.simulator_addr
                .map(|a| a.to_string())
                .unwrap_or_default()
        );
        println!("Demo account: username {account}, password {password}");
        println!(
            "Try: herald send --url {} --username {account} --password {password} --to 37255500000 --text \"Hello\"",
            app.base_url()
        );
    }
    shutdown_signal().await;
    println!("Shutting down: finishing submits in flight, unbinding from carriers");
    app.shutdown().await;
    Ok(())
}

async fn simulate_carrier(listen: SocketAddr, cfg: SimConfig) -> anyhow::Result<()> {
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    println!("Simulated carrier listening on {}", listener.local_addr()?);
    let shutdown = CancellationToken::new();
    let token = shutdown.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        token.cancel();
    });
    simulator::serve(listener, cfg, shutdown).await?;
    Ok(())
}

/// SIGTERM or SIGINT (Ctrl-C).
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing the SIGTERM handler");
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
