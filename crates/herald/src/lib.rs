//! Herald, an SMS gateway whose delivery reports you can trust.
//!
//! # Layout
//! - [`domain`]: the delivery-status model (statuses, `stat`, `dlr-mask`, `err`) and the one
//!   function that moves a message between statuses. Pure.
//! - [`store`]: durable state and work queues; the only module with SQL.
//! - [`simulator`]: the simulated carrier, an SMSC whose receipts are scripted by the destination
//!   number (the table is in [`simulator::script`]).

pub mod domain;
pub mod simulator;
pub mod store;
