//! Herald's SMPP 3.4 layer, shared by the carrier side (Herald as ESME) and the SMSC side (the
//! simulated carrier, and customers binding to Herald).
//!
//! # Layout
//! - [`ids`]: carrier message ids normalised so a receipt finds its submission.
//! - [`text`]: GSM 03.38 / UCS-2 encoding and concatenated segments.

pub mod ids;
pub mod text;
