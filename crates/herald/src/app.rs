//! Assembling a running gateway from a [`Config`]: the store, the carriers and their workers, the
//! callback worker, the HTTP API and the dashboard beside it — and taking it down in the right order.
//!
//! Shutdown order matters for "never lose a message": first stop accepting (HTTP) and claiming
//! (submitters), let submits in flight get their responses and be recorded, then unbind from the
//! carriers, and only then stop taking receipts. Whatever is still leased is claimed again after a
//! restart.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use herald_smpp::session::SessionConfig;
use herald_smpp::status::{StatusClass as SmppClass, StatusPolicy};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::access::AllowLists;
use crate::accounts::{Authenticator, sync_accounts};
use crate::callbacks::CallbackWorker;
use crate::carrier::{Backoff, BindMode, CarrierLink, CarrierStats, LinkConfig};
use crate::clock::system_clock;
use crate::config::{self, CarrierConfig, Config};
use crate::dashboard::DashboardState;
use crate::http::edge::Edge;
use crate::http::rate_limit::RateLimit;
use crate::http::{ApiDefaults, ApiState};
use crate::metrics::Metrics;
use crate::pipeline::{self, PipelineConfig, Submitter, Wakers};
use crate::routing::Routes;
use crate::simulator::{self, SimConfig};
use crate::store::sqlite::SqliteStore;
use crate::store::{DuplicatePolicy, SharedStore};

/// A gateway running in this process.
pub struct RunningApp {
    pub http_addr: SocketAddr,
    /// Where the in-process simulated carrier listens, when it runs.
    pub simulator_addr: Option<SocketAddr>,
    pub store: SharedStore,
    pub carriers: HashMap<String, CarrierLink>,
    /// This gateway's metrics (what `/metrics` serves).
    pub metrics: Arc<Metrics>,
    intake: CancellationToken,
    links: CancellationToken,
    simulator: CancellationToken,
    http: JoinHandle<()>,
    submitters: Vec<JoinHandle<()>>,
    /// Awaited, not aborted, at shutdown: it finishes and records the attempts in flight, so a
    /// callback the customer already got is not sent again after the restart.
    callbacks: JoinHandle<()>,
    background: Vec<JoinHandle<()>>,
}

/// Starts every part of the gateway. Returns once the HTTP API is listening; carriers bind in
/// the background.
pub async fn start(mut config: Config) -> anyhow::Result<RunningApp> {
    // Beside the store's opening and the accounts' password hashing; awaited before the API
    // listens, so no request waits for it.
    let numbering_plans = tokio::task::spawn_blocking(crate::number::load_numbering_plans);
    let store: SharedStore = Arc::new(
        open_store(&config.database.url)
            .await?
            .with_duplicate_policy(duplicate_policy(&config.rules)),
    );
    sync_accounts(&store, &config.accounts)
        .await
        .context("loading accounts into the store")?;

    let simulator_token = CancellationToken::new();
    let simulator_addr = match &config.simulator {
        Some(sim) => {
            let listener = TcpListener::bind(sim.listen)
                .await
                .with_context(|| format!("simulated carrier cannot listen on {}", sim.listen))?;
            let addr = listener.local_addr()?;
            let cfg = SimConfig {
                receipt_delay: Duration::from_millis(sim.receipt_delay_ms),
                ..SimConfig::default()
            };
            let token = simulator_token.clone();
            tokio::spawn(async move {
                if let Err(e) = simulator::serve(listener, cfg, token).await {
                    tracing::error!(error = %e, "simulated carrier stopped");
                }
            });
            tracing::info!(%addr, "simulated carrier listening");
            // A carrier with port 0 means "the in-process simulator, wherever it listens": this
            // lets tests and `herald send` run beside another Herald.
            for carrier in config.carriers.iter_mut().filter(|c| c.port == 0) {
                carrier.port = addr.port();
            }
            Some(addr)
        }
        None => None,
    };

    let intake = CancellationToken::new();
    let links = CancellationToken::new();
    let wakers = Arc::new(Wakers::default());
    let defaults = PipelineConfig::default();
    let pipeline_cfg = PipelineConfig {
        submit_retry_limit: config.pipeline.submit_retry_limit,
        submit_retry: Backoff {
            initial: Duration::from_millis(config.pipeline.submit_retry_delay_ms),
            ..defaults.submit_retry
        },
        expiry_grace: Duration::from_secs(config.pipeline.expiry_grace_secs),
        lease: Duration::from_secs(config.pipeline.submit_lease_secs),
        ..defaults
    };

    let (deliveries_tx, deliveries_rx) = mpsc::channel(4096);
    let mut carriers = HashMap::new();
    let mut submitters = Vec::new();
    for carrier in &config.carriers {
        let link = CarrierLink::start(link_config(carrier), deliveries_tx.clone(), links.clone());
        let submitter = Submitter {
            store: store.clone(),
            link: link.clone(),
            policy: status_policy(carrier),
            cfg: PipelineConfig {
                registered_delivery: registered_delivery(carrier),
                concatenation: carrier.concatenation,
                default_data_coding: carrier.default_data_coding,
                ..pipeline_cfg.clone()
            },
            wakers: wakers.clone(),
        };
        submitters.push(tokio::spawn(submitter.run(intake.clone())));
        carriers.insert(carrier.name.clone(), link);
    }
    drop(deliveries_tx);
    let metrics = Arc::new(Metrics::new(
        config
            .carriers
            .iter()
            .filter_map(|c| carriers.get(&c.name).cloned())
            .collect(),
    ));

    let mut background = vec![
        tokio::spawn(pipeline::ingest_deliveries(
            store.clone(),
            wakers.clone(),
            deliveries_rx,
        )),
        tokio::spawn(pipeline::sweep_expired(
            store.clone(),
            wakers.clone(),
            pipeline_cfg.expiry_grace,
            Duration::from_secs(1),
            intake.clone(),
        )),
    ];
    let mut callbacks = CallbackWorker::from_config(store.clone(), &config.callbacks);
    callbacks.metrics = metrics.clone();
    let callbacks = tokio::spawn(callbacks.run(wakers.callbacks.clone(), links.clone()));

    let auth = Arc::new(Authenticator::new(store.clone()));
    let mut dashboard = DashboardState::new(
        store.clone(),
        auth.clone(),
        config.dashboard.operators.iter().cloned(),
        carriers
            .iter()
            .map(|(name, link)| (name.clone(), link.clone())),
        wakers.callbacks.clone(),
        system_clock(),
    );
    let allow_lists = Arc::new(AllowLists::from_config(&config.accounts));
    dashboard.allow_lists = allow_lists.clone();
    let api = ApiState {
        store: store.clone(),
        routes: Arc::new(Routes::from_config(&config.routes)),
        auth,
        submit_wake: wakers.submit.clone(),
        callback_wake: wakers.callbacks.clone(),
        defaults: ApiDefaults {
            validity_minutes: config.pipeline.default_validity_minutes,
        },
        clock: system_clock(),
        allow_lists,
        metrics: metrics.clone(),
    };
    numbering_plans
        .await
        .context("loading the numbering plans")?;
    let listener = TcpListener::bind(config.http.listen)
        .await
        .with_context(|| format!("HTTP API cannot listen on {}", config.http.listen))?;
    let http_addr = listener.local_addr()?;
    let rate_limit = RateLimit::from_config(&config.http).map(Arc::new);
    if let Some(limit) = &rate_limit {
        // Ends with the API: `links` is cancelled after the HTTP server has stopped.
        background.push(tokio::spawn(
            limit
                .clone()
                .sweep_every(Duration::from_secs(1), links.clone()),
        ));
    }
    let router = crate::http::edge::protect(
        crate::http::router(api)
            // The dashboard's pages sit beside the API, not in its route table: they are not
            // API and stay out of the OpenAPI document. The client protection covers them too.
            .merge(crate::dashboard::router(dashboard)),
        Edge {
            trusted_proxies: config.http.trusted_proxies.clone(),
            rate_limit,
            metrics: metrics.clone(),
        },
    );
    let http_token = intake.clone();
    let http = tokio::spawn(async move {
        let serve = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move { http_token.cancelled().await });
        if let Err(e) = serve.await {
            tracing::error!(error = %e, "HTTP server stopped");
        }
    });
    tracing::info!(%http_addr, "HTTP API listening");

    Ok(RunningApp {
        http_addr,
        simulator_addr,
        store,
        carriers,
        metrics,
        intake,
        links,
        simulator: simulator_token,
        http,
        submitters,
        callbacks,
        background,
    })
}

impl RunningApp {
    /// Orderly shutdown: stop accepting and claiming, let in-flight submits finish and be
    /// recorded, unbind, let callbacks in flight finish and be recorded, stop the rest.
    pub async fn shutdown(self) {
        self.intake.cancel();
        let _ = self.http.await;
        for s in self.submitters {
            let _ = s.await;
        }
        self.links.cancel();
        // Give the supervisors a moment to exchange unbind / unbind_resp.
        for link in self.carriers.values() {
            for _ in 0..50 {
                if link.stats().binds.iter().all(|b| {
                    matches!(
                        b.state,
                        crate::carrier::BindState::ShutDown | crate::carrier::BindState::Stopped
                    )
                }) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        // Bounded by the callback lease: attempts in flight end within their timeout.
        let _ = self.callbacks.await;
        self.simulator.cancel();
        for b in self.background {
            b.abort();
        }
    }

    /// Every carrier's [`CarrierStats`] now, sorted by name (lock-free; cheap enough per page
    /// view or scrape).
    pub fn carrier_stats(&self) -> Vec<CarrierStats> {
        let mut stats: Vec<CarrierStats> = self.carriers.values().map(|c| c.stats()).collect();
        stats.sort_by(|a, b| a.name.cmp(&b.name));
        stats
    }

    /// The HTTP API's base URL, e.g. `http://127.0.0.1:8080`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.http_addr)
    }
}

/// The duplicate rule (err 006) as the operator configured it.
pub fn duplicate_policy(rules: &config::RulesConfig) -> DuplicatePolicy {
    DuplicatePolicy {
        limit: rules.duplicate_limit,
        window: Duration::from_secs(rules.duplicate_window_secs),
        block: Duration::from_secs(rules.duplicate_block_secs),
    }
}

/// Opens the configured store (SQLite only in this version).
pub async fn open_store(url: &str) -> anyhow::Result<SqliteStore> {
    if url.starts_with("sqlite:") {
        return SqliteStore::open(url)
            .await
            .with_context(|| format!("opening the store at {url}"));
    }
    anyhow::bail!(
        "database url {url:?}: only SQLite (sqlite://FILE) is supported in this version; \
         PostgreSQL support is planned for several-node deployments"
    )
}

fn link_config(c: &CarrierConfig) -> LinkConfig {
    LinkConfig {
        name: c.name.clone(),
        host: c.host.clone(),
        port: c.port,
        system_id: c.system_id.clone(),
        password: c.password.clone(),
        system_type: String::new(),
        mode: match c.bind {
            config::BindMode::Transceiver => BindMode::Transceiver,
            config::BindMode::Pair => BindMode::Pair,
        },
        sessions: c.sessions.max(1) as usize,
        session: SessionConfig {
            window: c.window.max(1) as usize,
            tps: (c.tps > 0).then_some(c.tps),
            enquire_link_interval: Duration::from_secs(c.enquire_link_secs.max(1)),
            response_timeout: Duration::from_secs(c.response_timeout_secs.max(1)),
            throttle_statuses: throttle_statuses(c),
            ..SessionConfig::default()
        },
        backoff: Backoff::default(),
        connect_timeout: Duration::from_secs(10),
    }
}

/// A final receipt on success or failure (0x01), plus intermediate notifications (0x10) when the
/// operator asked for them.
fn registered_delivery(c: &CarrierConfig) -> u8 {
    if c.intermediate_receipts { 0x11 } else { 0x01 }
}

fn status_policy(c: &CarrierConfig) -> StatusPolicy {
    c.status_overrides
        .iter()
        .fold(StatusPolicy::default(), |policy, (&code, class)| {
            policy.with_override(code, smpp_class(*class))
        })
}

fn smpp_class(class: config::StatusClass) -> SmppClass {
    match class {
        config::StatusClass::Temporary => SmppClass::Temporary { throttle: false },
        config::StatusClass::Throttle => SmppClass::Temporary { throttle: true },
        config::StatusClass::Permanent => SmppClass::Permanent,
    }
}

/// The statuses that make the session slow down: the defaults' throttling codes, as this
/// carrier's overrides reclassify them.
fn throttle_statuses(c: &CarrierConfig) -> Vec<u32> {
    let policy = status_policy(c);
    let mut codes: Vec<u32> = [0x58, 0x14]
        .into_iter()
        .chain(c.status_overrides.keys().copied())
        .filter(|&code| {
            matches!(
                policy.classify(code),
                SmppClass::Temporary { throttle: true }
            )
        })
        .collect();
    codes.sort_unstable();
    codes.dedup();
    codes
}
