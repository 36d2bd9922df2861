//! Herald's SMPP 3.4 layer, shared by the carrier side (Herald as ESME) and the SMSC side (the
//! simulated carrier, and customers binding to Herald).
//!
//! # Layout
//! - [`ids`]: carrier message ids normalised so a receipt finds its submission (hex/decimal).
//! - [`status`]: `command_status` classes (ok, temporary, permanent) with per-carrier overrides.
//! - [`receipt`]: delivery receipts: recognised by `esm_class`, read from TLVs and the Appendix B
//!   text (tolerant parser), plus a hand walk for receipts the codec refuses.
//! - [`pdu`]: PDU builders with safe defaults (submit, receipt, bind) and a plain reading of a
//!   received `submit_sm`.
//! - [`validity`]: the SMPP time format (`validity_period`), relative and absolute, without a date crate.

pub mod frame;
pub mod ids;
pub mod pdu;
pub mod receipt;
pub mod session;
pub mod status;
pub mod validity;
