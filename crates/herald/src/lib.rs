//! Herald, an SMS gateway whose delivery reports you can trust.
//!
//! # Layout
//! - [`domain`]: the delivery-status model (statuses, `stat`, `dlr-mask`, `err`) and the one
//!   function that moves a message between statuses. Pure.
//! - [`store`]: durable state and work queues; the only module with SQL.
//! - [`carrier`]: binds to carriers kept up by supervisors; submits out, receipts in.
//! - [`pipeline`]: the workers between store and carriers: submitter, receipt intake, expiry.

pub mod carrier;
pub mod domain;
pub mod pipeline;
pub mod store;
