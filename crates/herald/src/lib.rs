//! Herald, an SMS gateway whose delivery reports you can trust.
//!
//! # Layout
//! - [`domain`]: the delivery-status model (statuses, `stat`, `dlr-mask`, `err`) and the one
//!   function that moves a message between statuses. Pure.
//! - [`store`]: durable state and work queues; the only module with SQL.
//! - [`config`]: the operator's TOML file, `HERALD_...` overrides and the embedded defaults.

pub mod config;
pub mod domain;
pub mod store;
