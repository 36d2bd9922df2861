//! `herald send`: one message through the plain-text API, followed to its final status.
//!
//! Against a running gateway (`--url`), it polls `get_dlr_response`. Without `--url` it starts a
//! gateway in this process on the embedded defaults (SQLite `herald.db`, the simulated carrier),
//! with a callback receiver on loopback, and prints each callback as the customer would get it:
//! the quickest way to watch a message go out and its report come back.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use axum::extract::{RawQuery, State};
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::config::Config;

#[derive(Debug, Clone, clap::Args)]
pub struct SendArgs {
    /// Destination number, with or without `+`.
    #[arg(long)]
    pub to: String,
    #[arg(long)]
    pub text: String,
    /// Sender name; the account's default when absent.
    #[arg(long)]
    pub from: Option<String>,
    /// A running Herald's base URL, e.g. http://127.0.0.1:8080. Absent: run one in-process.
    #[arg(long)]
    pub url: Option<String>,
    #[arg(long, env = "HERALD_USERNAME")]
    pub username: Option<String>,
    #[arg(long, env = "HERALD_PASSWORD")]
    pub password: Option<String>,
    /// Callback URL for the message (against a running Herald).
    #[arg(long)]
    pub dlr_url: Option<String>,
    /// Give up following after this many seconds.
    #[arg(long, default_value_t = 120)]
    pub timeout_secs: u64,
}

pub async fn run(args: SendArgs) -> anyhow::Result<()> {
    match args.url.clone() {
        Some(url) => send_remote(&args, &url).await,
        None => send_embedded(&args).await,
    }
}

async fn send_remote(args: &SendArgs, base: &str) -> anyhow::Result<()> {
    let (Some(username), Some(password)) = (&args.username, &args.password) else {
        bail!("--username and --password are needed with --url");
    };
    let client = reqwest::Client::new();
    let id = send_sms(
        &client,
        base,
        username,
        password,
        args,
        args.dlr_url.as_deref(),
    )
    .await?;
    println!("accepted: sms_unique_id {id}");
    let deadline = Instant::now() + Duration::from_secs(args.timeout_secs);
    let mut last = String::new();
    while Instant::now() < deadline {
        let body = client
            .get(format!("{base}/get_dlr_response"))
            .query(&[
                ("username", username.as_str()),
                ("password", password.as_str()),
                ("sms_unique_id", id.as_str()),
            ])
            .send()
            .await?
            .text()
            .await?;
        let body = body.trim().to_owned();
        if body != last {
            println!("status: {body}");
            last = body.clone();
        }
        if body == "OK DELIVERED" || body == "OK FAILED" {
            return Ok(());
        }
        if body.starts_with("ERROR") {
            bail!("the gateway answered {body}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    bail!(
        "no final status within {} s (last: {last})",
        args.timeout_secs
    )
}

async fn send_embedded(args: &SendArgs) -> anyhow::Result<()> {
    let (mut config, demo_password) = Config::load(None)?;
    let password = demo_password.context("embedded defaults always make a demo account")?;
    let username = config.accounts[0].username.clone();
    // Free ports, so this works beside a running `herald serve`.
    config.http.listen = "127.0.0.1:0".parse()?;
    if let Some(sim) = config.simulator.as_mut() {
        sim.listen = "127.0.0.1:0".parse()?;
        sim.receipt_delay_ms = 300;
    }
    for carrier in &mut config.carriers {
        carrier.port = 0;
    }
    let (callbacks_tx, mut callbacks) = mpsc::unbounded_channel::<String>();
    let receiver = TcpListener::bind("127.0.0.1:0").await?;
    let dlr_url = format!("http://{}/dlr", receiver.local_addr()?);
    let router = axum::Router::new()
        .route(
            "/dlr",
            get(|State(tx): State<mpsc::UnboundedSender<String>>, RawQuery(q): RawQuery| async move {
                let _ = tx.send(q.unwrap_or_default());
                "ok"
            }),
        )
        .with_state(callbacks_tx);
    tokio::spawn(async move { axum::serve(receiver, router).await });

    let app = crate::app::start(config.clone()).await?;
    println!(
        "Herald on its embedded defaults: store {}, simulated carrier on {}, HTTP API on {}",
        config.database.url,
        app.simulator_addr
            .map(|a| a.to_string())
            .unwrap_or_default(),
        app.base_url()
    );
    let client = reqwest::Client::new();
    let base = app.base_url();
    let id = send_sms(&client, &base, &username, &password, args, Some(&dlr_url)).await?;
    println!("send_sms → OK {id}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(args.timeout_secs);
    let outcome = loop {
        let next = tokio::time::timeout_at(deadline, callbacks.recv()).await;
        let Ok(Some(query)) = next else {
            break Err(anyhow::anyhow!(
                "no final callback within {} s",
                args.timeout_secs
            ));
        };
        println!("callback → GET {dlr_url}?{query}");
        if query.contains("status=DELIVERED") || query.contains("status=FAILED") {
            break Ok(());
        }
    };
    app.shutdown().await;
    outcome
}

async fn send_sms(
    client: &reqwest::Client,
    base: &str,
    username: &str,
    password: &str,
    args: &SendArgs,
    dlr_url: Option<&str>,
) -> anyhow::Result<String> {
    let mut form = vec![
        ("username", username),
        ("password", password),
        ("to", args.to.as_str()),
        ("text", args.text.as_str()),
    ];
    if let Some(from) = &args.from {
        form.push(("from", from));
    }
    if let Some(url) = dlr_url {
        form.push(("dlr-url", url));
    }
    let body = client
        .post(format!("{base}/send_sms"))
        .form(&form)
        .send()
        .await
        .with_context(|| format!("calling {base}/send_sms"))?
        .text()
        .await?;
    match body.trim().strip_prefix("OK ") {
        Some(id) => Ok(id.to_owned()),
        None => bail!("send_sms answered {}", body.trim()),
    }
}
