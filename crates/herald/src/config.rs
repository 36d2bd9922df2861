//! The operator's configuration: a TOML file (every key documented in `docs/herald.example.toml`),
//! scalar keys overridable from the environment as `HERALD_<SECTION>_<KEY>`, and the embedded
//! defaults `herald serve` runs on when no file is given.
//!
//! Parsing is strict (unknown keys are errors) because a misspelt key silently falling back to a
//! default is the worst kind of configuration bug. [`Config::validate`] then checks what the
//! types cannot: routes name existing carriers, names are unique, prefixes are digits.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use ipnet::IpNet;
use rand::Rng;
use rand::distr::Alphanumeric;
use serde::{Deserialize, Deserializer};

use crate::callbacks::signature::WebhookSecret;
use crate::money::Money;
use crate::sender;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid configuration: {0}")]
    Parse(#[from] toml::de::Error),
    #[error("environment variable {var}: {reason}")]
    Env { var: String, reason: String },
    #[error("route with prefix {prefix:?} names carrier {carrier:?}, which is not configured")]
    UnknownCarrier { prefix: String, carrier: String },
    #[error("{kind} {name:?} is configured twice")]
    Duplicate { kind: &'static str, name: String },
    #[error("route prefix {0:?} must be E.164 digits only (\"\" matches every number)")]
    BadPrefix(String),
    #[error("{key}: {reason}")]
    Invalid { key: String, reason: String },
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub http: HttpConfig,
    #[serde(default)]
    pub database: DatabaseConfig,
    #[serde(default)]
    pub carriers: Vec<CarrierConfig>,
    #[serde(default)]
    pub routes: Vec<RouteConfig>,
    #[serde(default)]
    pub accounts: Vec<AccountConfig>,
    #[serde(default)]
    pub callbacks: CallbacksConfig,
    #[serde(default)]
    pub pipeline: PipelineConfig,
    #[serde(default)]
    pub rules: RulesConfig,
    #[serde(default)]
    pub dashboard: DashboardConfig,
    /// Runs the built-in simulated carrier inside this process (the embedded defaults do).
    #[serde(default)]
    pub simulator: Option<SimulatorConfig>,
}

/// The in-process simulated carrier: an SMPP server whose outcomes are scripted by number.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulatorConfig {
    /// Where it listens; point a `[[carriers]]` entry at it.
    pub listen: SocketAddr,
    /// Milliseconds from `submit_sm_resp` to the receipt.
    #[serde(default = "default_sim_receipt_delay_ms")]
    pub receipt_delay_ms: u64,
}

fn default_sim_receipt_delay_ms() -> u64 {
    500
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Requests per second one client address may make (HTTP 429 beyond, with `Retry-After`);
    /// 0 turns the limit off.
    #[serde(default = "default_rate_limit_per_second")]
    pub rate_limit_per_second: u32,
    /// Requests a client may make at once before the per-second rate applies.
    #[serde(default = "default_rate_limit_burst")]
    pub rate_limit_burst: u32,
    /// Client addresses the limit never applies to (the machine itself by default: local tools,
    /// health checks, benchmarks).
    #[serde(default = "default_rate_limit_exempt", deserialize_with = "networks")]
    pub rate_limit_exempt: Vec<IpNet>,
    /// Client addresses remembered at most; beyond it the limiter starts afresh (memory bound).
    #[serde(default = "default_rate_limit_max_clients")]
    pub rate_limit_max_clients: usize,
    /// Reverse proxies whose `X-Forwarded-For` is believed. Empty: the socket peer is the
    /// client, whatever the headers say.
    #[serde(default, deserialize_with = "networks")]
    pub trusted_proxies: Vec<IpNet>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            rate_limit_per_second: default_rate_limit_per_second(),
            rate_limit_burst: default_rate_limit_burst(),
            rate_limit_exempt: default_rate_limit_exempt(),
            rate_limit_max_clients: default_rate_limit_max_clients(),
            trusted_proxies: Vec::new(),
        }
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}
// A busy integration sends a few hundred requests a second from one address; a client far beyond
// that is in a loop.
fn default_rate_limit_per_second() -> u32 {
    500
}
fn default_rate_limit_burst() -> u32 {
    1000
}
fn default_rate_limit_exempt() -> Vec<IpNet> {
    vec![
        "127.0.0.0/8".parse().expect("a network"),
        "::1/128".parse().expect("a network"),
    ]
}
fn default_rate_limit_max_clients() -> usize {
    100_000
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    #[serde(default = "default_database_url")]
    pub url: String,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: default_database_url(),
        }
    }
}

fn default_database_url() -> String {
    "sqlite://herald.db".to_owned()
}

/// How Herald binds to a carrier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BindMode {
    /// One `bind_transceiver` session for submits and receipts.
    Transceiver,
    /// A transmitter and a receiver session.
    Pair,
}

/// How a carrier's `command_status` value is treated, overriding the SMPP default class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatusClass {
    /// Retry with backoff.
    Temporary,
    /// Retry with backoff and slow the link down.
    Throttle,
    /// Reject the message (NACK).
    Permanent,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CarrierConfig {
    pub name: String,
    pub host: String,
    pub port: u16,
    pub system_id: String,
    pub password: String,
    #[serde(default = "default_bind")]
    pub bind: BindMode,
    /// Requests in flight per session.
    #[serde(default = "default_window")]
    pub window: u32,
    /// SMPP sessions open to this carrier at once (each a transceiver, or a transmitter +
    /// receiver pair), when its contract allows several: each has its own `window`, submits go
    /// to the one with the most room, and they share `tps` (a session that is down leaves its
    /// share unused, so the carrier's rate never exceeds `tps`).
    #[serde(default = "default_sessions")]
    pub sessions: u32,
    /// Submits per second on this carrier, all its sessions together.
    #[serde(default = "default_tps")]
    pub tps: u32,
    /// `command_status` → class, keys written as `"0x45"` or `"69"`.
    #[serde(default, deserialize_with = "status_overrides")]
    pub status_overrides: BTreeMap<u32, StatusClass>,
    #[serde(default = "default_enquire_link_secs")]
    pub enquire_link_secs: u64,
    #[serde(default = "default_response_timeout_secs")]
    pub response_timeout_secs: u64,
    /// Ask this carrier for intermediate notifications (ENROUTE, ACCEPTD) besides final
    /// receipts (`registered_delivery` bit 0x10). They never produce a second `SENT` callback.
    #[serde(default)]
    pub intermediate_receipts: bool,
    /// How this carrier wants the parts of a long message marked.
    #[serde(default)]
    pub concatenation: Concatenation,
    /// The `data_coding` this carrier reads as the GSM 7-bit default alphabet: 0 (the SMSC
    /// default, usually GSM) or 1 (some carriers name GSM/IA5 explicitly).
    #[serde(default)]
    pub default_data_coding: u8,
}

/// How the parts of a concatenated message are marked for a carrier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Concatenation {
    /// A user data header in each part (`esm_class` UDHI).
    #[default]
    Udh,
    /// The SAR TLVs on each part, no header.
    Sar,
    /// No parts at all: the whole message in one `submit_sm`, in `message_payload`. Its
    /// segments are still counted, charged and reported on as parts; they share the one
    /// carrier message id and its receipts.
    Payload,
}

fn default_bind() -> BindMode {
    BindMode::Transceiver
}
fn default_window() -> u32 {
    10
}
fn default_sessions() -> u32 {
    1
}
/// Most sessions one carrier may have: every one is a connection and a supervisor, and carriers
/// that allow several allow a handful.
pub const MAX_SESSIONS: u32 = 64;
fn default_tps() -> u32 {
    100
}
fn default_enquire_link_secs() -> u64 {
    30
}
fn default_response_timeout_secs() -> u64 {
    10
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// E.164 digits; the longest matching prefix wins; `""` matches every number.
    pub prefix: String,
    pub carrier: String,
    /// Price per segment in the account currency, a decimal string.
    pub price: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountConfig {
    pub username: String,
    /// Plain text, or an argon2 PHC string (`$argon2id$...`) kept as is.
    pub password: String,
    #[serde(default = "default_balance")]
    pub balance: String,
    /// Allowed sender names; the first is the default. Empty: any sender, `from` required.
    #[serde(default)]
    pub senders: Vec<String>,
    /// Default callback URL; empty means none.
    #[serde(default)]
    pub dlr_url: String,
    /// Client addresses (networks or single addresses) the account may call the API from;
    /// empty means any.
    #[serde(default, deserialize_with = "networks")]
    pub allowed_ips: Vec<IpNet>,
    /// The secret its JSON webhooks are signed with (`whsec_` + base64 of 24 to 64 bytes).
    /// None: Herald generates one once and keeps it in the database.
    #[serde(default)]
    pub webhook_secret: Option<String>,
}

fn default_balance() -> String {
    "0.00".to_owned()
}

/// The web dashboard (served under `/dashboard` on the HTTP listener).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DashboardConfig {
    /// Usernames of accounts that are operators: they log in with their account's password and
    /// see every account, every carrier's binds and the global blacklist.
    #[serde(default)]
    pub operators: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallbacksConfig {
    /// Networks callback targets may be in although private, loopback or link-local.
    #[serde(default, deserialize_with = "networks")]
    pub allow_networks: Vec<IpNet>,
    /// Per attempt, connect to last byte.
    #[serde(default = "default_callback_timeout_secs")]
    pub timeout_secs: u64,
    /// Delay before each retry; the callback is exhausted after the last one.
    #[serde(default = "default_schedule", deserialize_with = "durations")]
    pub schedule: Vec<Duration>,
    /// Callbacks delivered at once.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
}

impl Default for CallbacksConfig {
    fn default() -> Self {
        Self {
            allow_networks: Vec::new(),
            timeout_secs: default_callback_timeout_secs(),
            schedule: default_schedule(),
            concurrency: default_concurrency(),
        }
    }
}

fn default_callback_timeout_secs() -> u64 {
    10
}
fn default_concurrency() -> usize {
    64
}
fn default_schedule() -> Vec<Duration> {
    [
        "10s", "1m", "5m", "15m", "30m", "1h", "2h", "4h", "8h", "8h",
    ]
    .iter()
    .map(|s| parse_duration(s).expect("the built-in schedule parses"))
    .collect()
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    /// How long after a message's validity we wait for a final receipt before failing it (002).
    #[serde(default = "default_expiry_grace_secs")]
    pub expiry_grace_secs: u64,
    /// Temporary carrier errors tolerated per segment before it is Rejected with err 999.
    #[serde(default = "default_submit_retry_limit")]
    pub submit_retry_limit: u32,
    /// Validity when a request gives none (minutes, at most 4320).
    #[serde(default = "default_validity_minutes")]
    pub default_validity_minutes: u32,
    /// Delay before resubmitting after a temporary carrier error; it doubles with every further
    /// error (up to five minutes), jittered.
    #[serde(default = "default_submit_retry_delay_ms")]
    pub submit_retry_delay_ms: u64,
    /// How long a segment claimed for submission stays with its submitter. After a crash,
    /// claimed but unrecorded work is submitted again once this runs out, so it must be longer
    /// than any submit can take (every carrier's `response_timeout_secs`).
    #[serde(default = "default_submit_lease_secs")]
    pub submit_lease_secs: u64,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            expiry_grace_secs: default_expiry_grace_secs(),
            submit_retry_limit: default_submit_retry_limit(),
            default_validity_minutes: default_validity_minutes(),
            submit_retry_delay_ms: default_submit_retry_delay_ms(),
            submit_lease_secs: default_submit_lease_secs(),
        }
    }
}

fn default_expiry_grace_secs() -> u64 {
    600
}
fn default_submit_retry_limit() -> u32 {
    5
}
fn default_validity_minutes() -> u32 {
    360
}
fn default_submit_retry_delay_ms() -> u64 {
    5_000
}
fn default_submit_lease_secs() -> u64 {
    120
}

/// The message rules decided in the pipeline (status-model §2), beyond routes and senders.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesConfig {
    /// Identical messages (same account, destination and text) allowed within
    /// `duplicate_window_secs`; the next one is Rejected with err 006 and blocks the identical
    /// message for `duplicate_block_secs`.
    #[serde(default = "default_duplicate_limit")]
    pub duplicate_limit: u32,
    #[serde(default = "default_duplicate_window_secs")]
    pub duplicate_window_secs: u64,
    #[serde(default = "default_duplicate_block_secs")]
    pub duplicate_block_secs: u64,
}

impl Default for RulesConfig {
    fn default() -> Self {
        Self {
            duplicate_limit: default_duplicate_limit(),
            duplicate_window_secs: default_duplicate_window_secs(),
            duplicate_block_secs: default_duplicate_block_secs(),
        }
    }
}

// Five identical texts to one number within ten minutes is already more than any one-time
// password flow or reminder needs; a sixth is what a client stuck in a retry loop sends.
fn default_duplicate_limit() -> u32 {
    5
}
fn default_duplicate_window_secs() -> u64 {
    600
}
// The block of err 006 as the source document words it: 60 minutes.
fn default_duplicate_block_secs() -> u64 {
    3600
}

/// The longest validity a customer may ask for (three days), in minutes.
pub const MAX_VALIDITY_MINUTES: u32 = 4320;

/// The configuration `herald serve` uses without a file, and the demo account's password
/// (generated at start, for `serve` to print).
pub struct EmbeddedDefaults {
    pub config: Config,
    pub demo_password: String,
}

impl Config {
    /// SQLite `herald.db`, HTTP on 127.0.0.1:8080, the in-process simulated carrier "sim" on
    /// 127.0.0.1:2775 serving every number, and a `demo` account with a fresh random password.
    pub fn embedded_defaults() -> EmbeddedDefaults {
        let demo_password: String = rand::rng()
            .sample_iter(Alphanumeric)
            .take(20)
            .map(char::from)
            .collect();
        let config = Config {
            http: HttpConfig::default(),
            database: DatabaseConfig::default(),
            carriers: vec![CarrierConfig {
                name: "sim".into(),
                host: "127.0.0.1".into(),
                port: 2775,
                system_id: "herald".into(),
                password: "herald".into(),
                bind: BindMode::Transceiver,
                window: default_window(),
                sessions: default_sessions(),
                tps: default_tps(),
                status_overrides: BTreeMap::new(),
                enquire_link_secs: default_enquire_link_secs(),
                response_timeout_secs: default_response_timeout_secs(),
                intermediate_receipts: false,
                concatenation: Concatenation::Udh,
                default_data_coding: 0,
            }],
            routes: vec![RouteConfig {
                prefix: String::new(),
                carrier: "sim".into(),
                price: "0.05".into(),
            }],
            accounts: vec![AccountConfig {
                username: "demo".into(),
                password: demo_password.clone(),
                balance: "100.00".into(),
                senders: vec!["Herald".into()],
                dlr_url: String::new(),
                allowed_ips: Vec::new(),
                webhook_secret: None,
            }],
            callbacks: CallbacksConfig {
                allow_networks: vec!["127.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()],
                ..CallbacksConfig::default()
            },
            pipeline: PipelineConfig::default(),
            rules: RulesConfig::default(),
            // The one person running the embedded defaults runs the gateway too.
            dashboard: DashboardConfig {
                operators: vec!["demo".into()],
            },
            simulator: Some(SimulatorConfig {
                listen: SocketAddr::from(([127, 0, 0, 1], 2775)),
                receipt_delay_ms: default_sim_receipt_delay_ms(),
            }),
        };
        EmbeddedDefaults {
            config,
            demo_password,
        }
    }

    /// What `herald serve` runs on: the file when given, else the embedded defaults (whose demo
    /// password is returned for printing); `HERALD_...` overrides applied, validated.
    pub fn load(path: Option<&Path>) -> Result<(Self, Option<String>), ConfigError> {
        match path {
            Some(path) => Ok((Self::from_file(path)?, None)),
            None => {
                let EmbeddedDefaults {
                    mut config,
                    demo_password,
                } = Self::embedded_defaults();
                config.apply_env(std::env::vars())?;
                config.validate()?;
                Ok((config, Some(demo_password)))
            }
        }
    }

    /// Parses a TOML document (no environment overrides, no validation).
    pub fn from_toml_str(text: &str) -> Result<Self, ConfigError> {
        Ok(toml::from_str(text)?)
    }

    /// Reads `path`, applies `HERALD_...` overrides from the process environment, validates.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let mut config = Self::from_toml_str(&text)?;
        config.apply_env(std::env::vars())?;
        config.validate()?;
        Ok(config)
    }

    /// Applies `HERALD_<SECTION>_<KEY>` overrides for the scalar keys of `[http]`, `[database]`,
    /// `[callbacks]`, `[pipeline]` and `[rules]` (and the list keys of `[http]` and
    /// `[callbacks]`, comma-separated).
    /// Other `HERALD_` variables are left alone: they belong to the command line.
    pub fn apply_env(
        &mut self,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<(), ConfigError> {
        for (var, value) in vars {
            let Some(rest) = var.strip_prefix("HERALD_") else {
                continue;
            };
            let Some((section, key)) = ["HTTP_", "DATABASE_", "CALLBACKS_", "PIPELINE_", "RULES_"]
                .iter()
                .find_map(|s| rest.strip_prefix(s).map(|k| (&s[..s.len() - 1], k)))
            else {
                continue;
            };
            self.apply_override(section, &key.to_ascii_lowercase(), value.trim())
                .map_err(|reason| ConfigError::Env {
                    var: var.clone(),
                    reason,
                })?;
        }
        Ok(())
    }

    fn apply_override(&mut self, section: &str, key: &str, value: &str) -> Result<(), String> {
        fn num<T: std::str::FromStr>(v: &str) -> Result<T, String> {
            v.parse()
                .map_err(|_| format!("{v:?} is not a valid number"))
        }
        match (section, key) {
            ("HTTP", "listen") => {
                self.http.listen = value
                    .parse()
                    .map_err(|_| format!("{value:?} is not an address like 127.0.0.1:8080"))?
            }
            ("HTTP", "rate_limit_per_second") => self.http.rate_limit_per_second = num(value)?,
            ("HTTP", "rate_limit_burst") => self.http.rate_limit_burst = num(value)?,
            ("HTTP", "rate_limit_max_clients") => self.http.rate_limit_max_clients = num(value)?,
            ("HTTP", "rate_limit_exempt") => {
                self.http.rate_limit_exempt = split_list(value)
                    .map(parse_network)
                    .collect::<Result<_, _>>()?
            }
            ("HTTP", "trusted_proxies") => {
                self.http.trusted_proxies = split_list(value)
                    .map(parse_network)
                    .collect::<Result<_, _>>()?
            }
            ("DATABASE", "url") => self.database.url = value.to_owned(),
            ("CALLBACKS", "timeout_secs") => self.callbacks.timeout_secs = num(value)?,
            ("CALLBACKS", "concurrency") => self.callbacks.concurrency = num(value)?,
            ("CALLBACKS", "schedule") => {
                self.callbacks.schedule = split_list(value)
                    .map(parse_duration)
                    .collect::<Result<_, _>>()?
            }
            ("CALLBACKS", "allow_networks") => {
                self.callbacks.allow_networks = split_list(value)
                    .map(parse_network)
                    .collect::<Result<_, _>>()?
            }
            ("PIPELINE", "expiry_grace_secs") => self.pipeline.expiry_grace_secs = num(value)?,
            ("PIPELINE", "submit_retry_limit") => self.pipeline.submit_retry_limit = num(value)?,
            ("PIPELINE", "default_validity_minutes") => {
                self.pipeline.default_validity_minutes = num(value)?
            }
            ("PIPELINE", "submit_retry_delay_ms") => {
                self.pipeline.submit_retry_delay_ms = num(value)?
            }
            ("PIPELINE", "submit_lease_secs") => self.pipeline.submit_lease_secs = num(value)?,
            ("RULES", "duplicate_limit") => self.rules.duplicate_limit = num(value)?,
            ("RULES", "duplicate_window_secs") => self.rules.duplicate_window_secs = num(value)?,
            ("RULES", "duplicate_block_secs") => self.rules.duplicate_block_secs = num(value)?,
            _ => return Err(format!("[{}] has no key {key:?}", section.to_lowercase())),
        }
        Ok(())
    }

    /// Checks what the types cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: String, reason: &str| ConfigError::Invalid {
            key,
            reason: reason.to_owned(),
        };
        unique("carrier", self.carriers.iter().map(|c| c.name.as_str()))?;
        unique("account", self.accounts.iter().map(|a| a.username.as_str()))?;
        if let Some(unknown) = self
            .dashboard
            .operators
            .iter()
            .find(|o| !self.accounts.iter().any(|a| &a.username == *o))
        {
            return Err(invalid(
                "dashboard.operators".into(),
                &format!("{unknown:?} is not a configured account"),
            ));
        }
        unique(
            "route prefix",
            self.routes.iter().map(|r| r.prefix.as_str()),
        )?;

        for c in &self.carriers {
            let key = |k: &str| format!("carriers[{}].{k}", c.name);
            if c.name.trim().is_empty() {
                return Err(invalid("carriers.name".into(), "must not be empty"));
            }
            if c.host.trim().is_empty() {
                return Err(invalid(key("host"), "must not be empty"));
            }
            // SMPP caps system_id at 15 and password at 8 octets plus NUL.
            if c.system_id.len() > 15 {
                return Err(invalid(key("system_id"), "at most 15 characters (SMPP)"));
            }
            if c.password.len() > 8 {
                return Err(invalid(key("password"), "at most 8 characters (SMPP)"));
            }
            if c.window == 0 || c.tps == 0 {
                return Err(invalid(key("window/tps"), "must be at least 1"));
            }
            if c.sessions == 0 || c.sessions > MAX_SESSIONS {
                return Err(invalid(
                    key("sessions"),
                    &format!("must be between 1 and {MAX_SESSIONS}"),
                ));
            }
            // Each session gets a share of `tps`; a share of 0 would mean no limit at all.
            if c.sessions > c.tps {
                return Err(invalid(key("sessions"), "must not exceed tps"));
            }
            if c.default_data_coding > 1 {
                return Err(invalid(key("default_data_coding"), "must be 0 or 1"));
            }
            if c.response_timeout_secs == 0 {
                return Err(invalid(key("response_timeout_secs"), "must be at least 1"));
            }
            // A lease running out while the submit still waits for its response would let the
            // segment be claimed and sent a second time.
            if self.pipeline.submit_lease_secs <= c.response_timeout_secs {
                return Err(invalid(
                    "pipeline.submit_lease_secs".into(),
                    &format!(
                        "must be longer than carriers[{}].response_timeout_secs ({} s)",
                        c.name, c.response_timeout_secs
                    ),
                ));
            }
        }
        let carriers: HashSet<&str> = self.carriers.iter().map(|c| c.name.as_str()).collect();
        for r in &self.routes {
            if !r.prefix.bytes().all(|b| b.is_ascii_digit()) || r.prefix.len() > 15 {
                return Err(ConfigError::BadPrefix(r.prefix.clone()));
            }
            if !carriers.contains(r.carrier.as_str()) {
                return Err(ConfigError::UnknownCarrier {
                    prefix: r.prefix.clone(),
                    carrier: r.carrier.clone(),
                });
            }
            if Money::parse(&r.price).is_err() {
                return Err(invalid(
                    format!("routes[{:?}].price", r.prefix),
                    "must be a decimal like \"0.05\" (at most six decimals)",
                ));
            }
        }
        for a in &self.accounts {
            let key = |k: &str| format!("accounts[{}].{k}", a.username);
            if a.username.trim().is_empty() {
                return Err(invalid("accounts.username".into(), "must not be empty"));
            }
            if a.password.is_empty() {
                return Err(invalid(key("password"), "must not be empty"));
            }
            if Money::parse(&a.balance).is_err() {
                return Err(invalid(
                    key("balance"),
                    "must be a decimal like \"100.00\" (at most six decimals)",
                ));
            }
            if let Some(bad) = a.senders.iter().find(|s| !sender::is_well_formed(s)) {
                return Err(invalid(
                    key("senders"),
                    &format!(
                        "{bad:?}: a sender is 1 to 11 letters, digits and spaces, or a number of \
                         up to 15 digits"
                    ),
                ));
            }
            if let Some(secret) = &a.webhook_secret
                && let Err(e) = WebhookSecret::parse(secret)
            {
                return Err(invalid(key("webhook_secret"), &e.to_string()));
            }
            if !a.dlr_url.is_empty() && !is_http_url(&a.dlr_url) {
                return Err(invalid(
                    key("dlr_url"),
                    "must be an http:// or https:// URL",
                ));
            }
        }
        if self.http.rate_limit_per_second > 0
            && (self.http.rate_limit_burst == 0 || self.http.rate_limit_max_clients == 0)
        {
            return Err(invalid(
                "http.rate_limit_burst/rate_limit_max_clients".into(),
                "must be at least 1 while rate_limit_per_second is set (0 turns the limit off)",
            ));
        }
        if self.callbacks.concurrency == 0 || self.callbacks.timeout_secs == 0 {
            return Err(invalid(
                "callbacks.concurrency/timeout_secs".into(),
                "must be at least 1",
            ));
        }
        if self.rules.duplicate_limit == 0
            || self.rules.duplicate_window_secs == 0
            || self.rules.duplicate_block_secs == 0
        {
            return Err(invalid(
                "rules.duplicate_limit/duplicate_window_secs/duplicate_block_secs".into(),
                "must be at least 1",
            ));
        }
        let v = self.pipeline.default_validity_minutes;
        if v == 0 || v > MAX_VALIDITY_MINUTES {
            return Err(invalid(
                "pipeline.default_validity_minutes".into(),
                "must be between 1 and 4320",
            ));
        }
        Ok(())
    }
}

fn unique<'a>(kind: &'static str, names: impl Iterator<Item = &'a str>) -> Result<(), ConfigError> {
    let mut seen = HashSet::new();
    for name in names {
        if !seen.insert(name) {
            return Err(ConfigError::Duplicate {
                kind,
                name: name.to_owned(),
            });
        }
    }
    Ok(())
}

/// Whether `s` is a URL Herald can send callbacks to, written with its `http://` or `https://`.
pub fn is_http_url(s: &str) -> bool {
    (s.starts_with("http://") || s.starts_with("https://"))
        && crate::callbacks::url::target_url(s).is_ok()
}

fn split_list(v: &str) -> impl Iterator<Item = &str> {
    v.split(',').map(str::trim).filter(|s| !s.is_empty())
}

/// Parses `500ms`, `10s`, `5m`, `2h`, `1d`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("{s:?} has no unit (ms, s, m, h or d)"))?;
    let (digits, unit) = s.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{s:?} does not start with a number"))?;
    let millis_per = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(format!("{s:?} has an unknown unit (use ms, s, m, h or d)")),
    };
    n.checked_mul(millis_per)
        .map(Duration::from_millis)
        .ok_or_else(|| format!("{s:?} is too long"))
}

/// A network (`10.0.0.0/8`) or a single address (`::1`).
pub fn parse_network(s: &str) -> Result<IpNet, String> {
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{s:?} is not a network like 10.0.0.0/8 or an address"))
}

/// `"0x45"` or `"69"`.
pub fn parse_command_status(s: &str) -> Result<u32, String> {
    let s = s.trim();
    let parsed = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16),
        None => s.parse(),
    };
    parsed.map_err(|_| format!("{s:?} is not a command_status like \"0x45\" or \"69\""))
}

fn durations<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Duration>, D::Error> {
    Vec::<String>::deserialize(d)?
        .iter()
        .map(|s| parse_duration(s).map_err(serde::de::Error::custom))
        .collect()
}

fn networks<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<IpNet>, D::Error> {
    Vec::<String>::deserialize(d)?
        .iter()
        .map(|s| parse_network(s).map_err(serde::de::Error::custom))
        .collect()
}

fn status_overrides<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<u32, StatusClass>, D::Error> {
    BTreeMap::<String, StatusClass>::deserialize(d)?
        .into_iter()
        .map(|(k, v)| {
            parse_command_status(&k)
                .map(|code| (code, v))
                .map_err(serde::de::Error::custom)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPERATIONS_EXAMPLE: &str = r#"
[http]
listen = "127.0.0.1:8080"

[database]
url = "sqlite://herald.db"

[[carriers]]
name = "sim"
host = "127.0.0.1"
port = 2775
system_id = "herald"
password = "secret"
bind = "transceiver"
window = 10
tps = 100

[[routes]]
prefix = "372"
carrier = "sim"
price = "0.05"

[[accounts]]
username = "demo"
password = "demo-secret"
balance = "100.00"
senders = ["Herald"]
dlr_url = ""

[callbacks]
allow_networks = ["127.0.0.0/8"]
"#;

    fn parse(text: &str) -> Config {
        let c = Config::from_toml_str(text).expect("parses");
        c.validate().expect("valid");
        c
    }

    #[test]
    fn the_operations_example_parses_with_defaults_for_the_rest() {
        let c = parse(OPERATIONS_EXAMPLE);
        assert_eq!(c.http.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.carriers[0].bind, BindMode::Transceiver);
        assert_eq!(c.carriers[0].enquire_link_secs, 30);
        assert_eq!(c.routes[0].prefix, "372");
        assert_eq!(c.accounts[0].senders, vec!["Herald"]);
        assert_eq!(
            c.callbacks.allow_networks,
            vec!["127.0.0.0/8".parse::<IpNet>().unwrap()]
        );
        assert_eq!(c.callbacks.timeout_secs, 10);
        assert_eq!(c.callbacks.concurrency, 64);
        assert_eq!(c.callbacks.schedule.len(), 10);
        assert_eq!(c.callbacks.schedule[0], Duration::from_secs(10));
        assert_eq!(c.callbacks.schedule[9], Duration::from_secs(8 * 3600));
        assert_eq!(c.pipeline, PipelineConfig::default());
        assert_eq!(c.pipeline.expiry_grace_secs, 600);
        assert_eq!(c.pipeline.submit_retry_limit, 5);
        assert_eq!(c.pipeline.default_validity_minutes, 360);
        assert_eq!(c.pipeline.submit_retry_delay_ms, 5_000);
        assert_eq!(c.pipeline.submit_lease_secs, 120);
        assert!(!c.carriers[0].intermediate_receipts);
        assert_eq!(c.rules, RulesConfig::default());
        assert_eq!(
            (
                c.rules.duplicate_limit,
                c.rules.duplicate_window_secs,
                c.rules.duplicate_block_secs
            ),
            (5, 600, 3600)
        );
    }

    #[test]
    fn a_sender_a_handset_cannot_show_or_a_price_with_fractions_of_micros_is_refused() {
        for (from, to) in [
            ("senders = [\"Herald\"]", "senders = [\"Herald Gateway\"]"),
            ("price = \"0.05\"", "price = \"0.0000001\""),
            ("balance = \"100.00\"", "balance = \"-1\""),
        ] {
            let text = OPERATIONS_EXAMPLE.replace(from, to);
            let err = Config::from_toml_str(&text).unwrap().validate();
            assert!(matches!(err, Err(ConfigError::Invalid { .. })), "{to}");
        }
    }

    #[test]
    fn a_webhook_secret_is_checked_and_a_malformed_one_is_refused_without_being_echoed() {
        let good = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let text = OPERATIONS_EXAMPLE.replace(
            "balance = \"100.00\"",
            &format!("balance = \"100.00\"\nwebhook_secret = \"{good}\""),
        );
        assert!(text.contains(good));
        let c = parse(&text);
        assert_eq!(c.accounts[0].webhook_secret.as_deref(), Some(good));
        assert_eq!(parse(OPERATIONS_EXAMPLE).accounts[0].webhook_secret, None);

        let bad = text.replace(good, "hunter2-not-a-whsec");
        let err = Config::from_toml_str(&bad).unwrap().validate().unwrap_err();
        let message = err.to_string();
        assert!(message.contains("webhook_secret"), "{message}");
        assert!(message.contains("whsec_"), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
    }

    #[test]
    fn a_carrier_has_one_session_unless_told_and_never_more_sessions_than_tps() {
        assert_eq!(parse(OPERATIONS_EXAMPLE).carriers[0].sessions, 1);
        let with = |sessions: &str| {
            OPERATIONS_EXAMPLE.replace(
                "window = 10",
                &format!("window = 10\nsessions = {sessions}"),
            )
        };
        assert_eq!(parse(&with("4")).carriers[0].sessions, 4);
        // tps = 100 in the example: each session needs a share of at least one per second.
        for bad in ["0", "65", "-1"] {
            let parsed = Config::from_toml_str(&with(bad));
            let refused = parsed.map(|c| c.validate());
            assert!(!matches!(refused, Ok(Ok(()))), "sessions = {bad}");
        }
        let text = with("8").replace("tps = 100", "tps = 5");
        let err = Config::from_toml_str(&text)
            .unwrap()
            .validate()
            .unwrap_err();
        assert!(err.to_string().contains("sessions"), "{err}");
    }

    #[test]
    fn concatenation_and_default_data_coding_are_per_carrier_with_udh_and_0_by_default() {
        let c = parse(OPERATIONS_EXAMPLE);
        assert_eq!(
            (
                c.carriers[0].concatenation,
                c.carriers[0].default_data_coding
            ),
            (Concatenation::Udh, 0)
        );
        let text = OPERATIONS_EXAMPLE.replace(
            "window = 10",
            "window = 10\nconcatenation = \"sar\"\ndefault_data_coding = 1",
        );
        let c = parse(&text);
        assert_eq!(
            (
                c.carriers[0].concatenation,
                c.carriers[0].default_data_coding
            ),
            (Concatenation::Sar, 1)
        );
        let bad = text.replace("default_data_coding = 1", "default_data_coding = 8");
        let err = Config::from_toml_str(&bad).unwrap().validate().unwrap_err();
        assert!(err.to_string().contains("default_data_coding"), "{err}");
        let unknown = text.replace("\"sar\"", "\"tlv\"");
        assert!(Config::from_toml_str(&unknown).is_err());
        let payload = parse(&text.replace("\"sar\"", "\"payload\""));
        assert_eq!(payload.carriers[0].concatenation, Concatenation::Payload);
    }

    #[test]
    fn a_submit_lease_no_longer_than_a_response_timeout_is_refused() {
        let text = format!("{OPERATIONS_EXAMPLE}\n[pipeline]\nsubmit_lease_secs = 10\n");
        let err = Config::from_toml_str(&text)
            .unwrap()
            .validate()
            .unwrap_err()
            .to_string();
        assert!(err.contains("submit_lease_secs"), "{err}");
        let text = text.replace("submit_lease_secs = 10", "submit_lease_secs = 11");
        let c = parse(&text);
        assert_eq!(c.pipeline.submit_lease_secs, 11);
    }

    #[test]
    fn the_example_file_in_docs_is_valid() {
        let text = include_str!("../../../docs/herald.example.toml");
        let c = parse(text);
        assert!(!c.carriers.is_empty() && !c.routes.is_empty() && !c.accounts.is_empty());
    }

    #[test]
    fn load_reads_a_file_or_falls_back_to_the_embedded_defaults() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../docs/herald.example.toml"
        );
        let (from_file, password) = Config::load(Some(Path::new(path))).unwrap();
        assert_eq!(from_file.routes.len(), 2);
        assert_eq!(password, None);
        let (embedded, password) = Config::load(None).unwrap();
        assert_eq!(embedded.accounts[0].password, password.unwrap());
        let err = Config::load(Some(Path::new("/nonexistent/herald.toml"))).unwrap_err();
        assert!(matches!(err, ConfigError::Read { .. }), "{err}");
    }

    #[test]
    fn status_overrides_accept_hex_and_decimal_codes() {
        let text = OPERATIONS_EXAMPLE.replace(
            "tps = 100",
            "tps = 100\nstatus_overrides = { \"0x45\" = \"temporary\", \"88\" = \"throttle\", \"0x0B\" = \"permanent\" }",
        );
        let c = parse(&text);
        let o = &c.carriers[0].status_overrides;
        assert_eq!(o.get(&0x45), Some(&StatusClass::Temporary));
        assert_eq!(o.get(&88), Some(&StatusClass::Throttle));
        assert_eq!(o.get(&0x0B), Some(&StatusClass::Permanent));
    }

    #[test]
    fn a_bad_status_override_code_is_a_clear_error() {
        let text = OPERATIONS_EXAMPLE.replace(
            "tps = 100",
            "tps = 100\nstatus_overrides = { \"0xZZ\" = \"temporary\" }",
        );
        let err = Config::from_toml_str(&text).unwrap_err().to_string();
        assert!(err.contains("0xZZ"), "{err}");
    }

    #[test]
    fn a_misspelt_key_is_refused() {
        let text = OPERATIONS_EXAMPLE.replace("tps = 100", "tsp = 100");
        let err = Config::from_toml_str(&text).unwrap_err().to_string();
        assert!(err.contains("tsp"), "{err}");
    }

    #[test]
    fn a_route_to_an_unknown_carrier_is_refused() {
        let text = OPERATIONS_EXAMPLE.replace("carrier = \"sim\"", "carrier = \"elisa\"");
        let err = Config::from_toml_str(&text)
            .unwrap()
            .validate()
            .unwrap_err();
        assert!(
            matches!(err, ConfigError::UnknownCarrier { ref carrier, .. } if carrier == "elisa")
        );
        assert!(err.to_string().contains("elisa"));
    }

    #[test]
    fn duplicate_carrier_names_are_refused() {
        let carrier = OPERATIONS_EXAMPLE
            .split("[[carriers]]")
            .nth(1)
            .unwrap()
            .split("[[routes]]")
            .next()
            .unwrap();
        let text = format!("{OPERATIONS_EXAMPLE}\n[[carriers]]{carrier}");
        let err = Config::from_toml_str(&text)
            .unwrap()
            .validate()
            .unwrap_err();
        assert!(
            matches!(
                err,
                ConfigError::Duplicate {
                    kind: "carrier",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn a_prefix_with_a_plus_or_letters_is_refused() {
        for bad in ["+372", "37a", " 372"] {
            let text =
                OPERATIONS_EXAMPLE.replace("prefix = \"372\"", &format!("prefix = \"{bad}\""));
            let err = Config::from_toml_str(&text)
                .unwrap()
                .validate()
                .unwrap_err();
            assert!(matches!(err, ConfigError::BadPrefix(_)), "{bad}: {err}");
        }
    }

    #[test]
    fn environment_overrides_scalar_keys_of_the_four_sections() {
        let mut c = parse(OPERATIONS_EXAMPLE);
        c.apply_env([
            ("HERALD_HTTP_LISTEN".to_owned(), "0.0.0.0:9000".to_owned()),
            (
                "HERALD_DATABASE_URL".to_owned(),
                "sqlite:///var/lib/herald.db".to_owned(),
            ),
            ("HERALD_CALLBACKS_TIMEOUT_SECS".to_owned(), "3".to_owned()),
            ("HERALD_CALLBACKS_SCHEDULE".to_owned(), "1s, 2s".to_owned()),
            (
                "HERALD_PIPELINE_SUBMIT_RETRY_LIMIT".to_owned(),
                "9".to_owned(),
            ),
            (
                "HERALD_PIPELINE_SUBMIT_RETRY_DELAY_MS".to_owned(),
                "250".to_owned(),
            ),
            (
                "HERALD_PIPELINE_SUBMIT_LEASE_SECS".to_owned(),
                "30".to_owned(),
            ),
            ("HERALD_RULES_DUPLICATE_LIMIT".to_owned(), "3".to_owned()),
            ("HERALD_CONFIG".to_owned(), "ignored.toml".to_owned()),
            ("PATH".to_owned(), "/bin".to_owned()),
        ])
        .unwrap();
        assert_eq!(c.http.listen.to_string(), "0.0.0.0:9000");
        assert_eq!(c.database.url, "sqlite:///var/lib/herald.db");
        assert_eq!(c.callbacks.timeout_secs, 3);
        assert_eq!(
            c.callbacks.schedule,
            vec![Duration::from_secs(1), Duration::from_secs(2)]
        );
        assert_eq!(c.pipeline.submit_retry_limit, 9);
        assert_eq!(c.pipeline.submit_retry_delay_ms, 250);
        assert_eq!(c.pipeline.submit_lease_secs, 30);
        assert_eq!(c.rules.duplicate_limit, 3);
    }

    #[test]
    fn an_unknown_or_malformed_environment_override_names_the_variable() {
        let mut c = parse(OPERATIONS_EXAMPLE);
        let err = c
            .apply_env([("HERALD_HTTP_LISTN".to_owned(), "x".to_owned())])
            .unwrap_err();
        assert!(err.to_string().contains("HERALD_HTTP_LISTN"), "{err}");
        let err = c
            .apply_env([("HERALD_CALLBACKS_CONCURRENCY".to_owned(), "many".to_owned())])
            .unwrap_err();
        assert!(err.to_string().contains("many"), "{err}");
    }

    #[test]
    fn the_request_limit_defaults_spare_the_machine_itself_and_parse_from_the_file_and_env() {
        let c = parse(OPERATIONS_EXAMPLE);
        assert_eq!(
            (c.http.rate_limit_per_second, c.http.rate_limit_burst),
            (500, 1000)
        );
        assert_eq!(c.http.rate_limit_max_clients, 100_000);
        assert!(c.http.trusted_proxies.is_empty());
        let loopback: std::net::IpAddr = "127.0.0.1".parse().unwrap();
        assert!(
            c.http
                .rate_limit_exempt
                .iter()
                .any(|n| n.contains(&loopback))
        );
        let text = OPERATIONS_EXAMPLE.replace(
            "listen = \"127.0.0.1:8080\"",
            "listen = \"127.0.0.1:8080\"\nrate_limit_per_second = 5\nrate_limit_burst = 9\n\
             rate_limit_exempt = []\ntrusted_proxies = [\"10.0.0.0/8\", \"::1\"]",
        );
        let mut c = parse(&text);
        assert_eq!(
            (c.http.rate_limit_per_second, c.http.rate_limit_burst),
            (5, 9)
        );
        assert!(c.http.rate_limit_exempt.is_empty());
        assert_eq!(c.http.trusted_proxies.len(), 2);
        c.apply_env([
            (
                "HERALD_HTTP_RATE_LIMIT_PER_SECOND".to_owned(),
                "0".to_owned(),
            ),
            (
                "HERALD_HTTP_TRUSTED_PROXIES".to_owned(),
                "192.0.2.1, 192.0.2.0/28".to_owned(),
            ),
        ])
        .unwrap();
        assert_eq!(c.http.rate_limit_per_second, 0);
        assert_eq!(c.http.trusted_proxies.len(), 2);
        let zero_burst = text.replace("rate_limit_burst = 9", "rate_limit_burst = 0");
        let err = Config::from_toml_str(&zero_burst)
            .unwrap()
            .validate()
            .unwrap_err();
        assert!(err.to_string().contains("rate_limit_burst"), "{err}");
    }

    #[test]
    fn allowed_ips_take_networks_and_single_addresses_and_refuse_anything_else() {
        let text = OPERATIONS_EXAMPLE.replace(
            "dlr_url = \"\"",
            "dlr_url = \"\"\nallowed_ips = [\"203.0.113.0/24\", \"2001:db8::/32\", \"198.51.100.7\"]",
        );
        let c = parse(&text);
        let allowed: Vec<String> = c.accounts[0]
            .allowed_ips
            .iter()
            .map(|n| n.to_string())
            .collect();
        assert_eq!(
            allowed,
            ["203.0.113.0/24", "2001:db8::/32", "198.51.100.7/32"]
        );
        assert!(parse(OPERATIONS_EXAMPLE).accounts[0].allowed_ips.is_empty());
        let bad = text.replace("203.0.113.0/24", "203.0.113.0/33");
        let err = Config::from_toml_str(&bad).unwrap_err().to_string();
        assert!(err.contains("203.0.113.0/33"), "{err}");
    }

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86_400)));
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("m").is_err());
        assert!(parse_duration("10 parsecs").is_err());
    }

    #[test]
    fn embedded_defaults_are_valid_and_generate_a_demo_password() {
        let a = Config::embedded_defaults();
        let b = Config::embedded_defaults();
        a.config.validate().unwrap();
        assert_eq!(a.config.database.url, "sqlite://herald.db");
        assert_eq!(a.config.carriers[0].port, 2775);
        assert_eq!(a.config.routes[0].prefix, "");
        assert_eq!(a.config.accounts[0].username, "demo");
        assert_eq!(a.config.accounts[0].password, a.demo_password);
        assert_eq!(a.demo_password.len(), 20);
        assert_ne!(a.demo_password, b.demo_password);
        let allowed = &a.config.callbacks.allow_networks;
        assert!(
            allowed
                .iter()
                .any(|n| n.contains(&"127.0.0.1".parse::<std::net::IpAddr>().unwrap()))
        );
        assert!(
            allowed
                .iter()
                .any(|n| n.contains(&"::1".parse::<std::net::IpAddr>().unwrap()))
        );
    }
}
