//! Herald, an SMS gateway whose delivery reports you can trust.
//!
//! # Layout
//! - [`domain`]: the delivery-status model (statuses, `stat`, `dlr-mask`, `err`) and the one
//!   function that moves a message between statuses. Pure.
//! - [`store`]: durable state and work queues; the only module with SQL.
//! - [`carrier`]: binds to carriers kept up by supervisors; submits out, receipts in.
//! - [`pipeline`]: the workers between store and carriers: submitter, receipt intake, expiry.
//! - [`callbacks`]: delivery of callbacks to customers' dlr-urls: retry policy, SSRF guard, worker.
//! - [`http`]: the customer-facing HTTP edge: the plain-text API (`/send_sms`, ...), `/health`
//!   and the JSON API under `/v1` (omnimessages, blacklist, messages, the OpenAPI document).
//! - [`routing`]: longest-prefix route table (destination → carrier and price).
//! - [`number`]: destination numbers parsed into E.164 (the `phonenumber` crate stays behind it).
//! - [`sender`]: which sender names a handset can show and an account may use.
//! - [`money`]: exact amounts (micro-units) for balances, prices and charges.
//! - [`pricing`]: the price list the API shows, built from the routes.
//! - [`cli_blacklist`]: `herald blacklist`, managing blacklists on the configured database.
//! - [`accounts`]: customer accounts from the config (argon2) and API credential checks.
//! - [`config`]: the operator's TOML file, `HERALD_...` overrides and the embedded defaults.
//! - [`cli_send`]: `herald send`, one message followed to its final status.
//! - [`app`]: assembling all of the above into a running gateway, and its ordered shutdown.
//! - [`simulator`]: the simulated carrier, an SMSC whose receipts are scripted by the destination
//!   number (the table is in [`simulator::script`]).
//! - [`clock`]: the source of "now", replaceable in tests.

pub mod access;
pub mod accounts;
pub mod app;
pub mod callbacks;
pub mod carrier;
pub mod cli_blacklist;
pub mod cli_send;
pub mod clock;
pub mod config;
pub mod domain;
pub mod http;
pub mod metrics;
pub mod money;
pub mod number;
pub mod pipeline;
pub mod pricing;
pub mod routing;
pub mod sender;
pub mod simulator;
pub mod store;

#[cfg(test)]
mod test_support;
