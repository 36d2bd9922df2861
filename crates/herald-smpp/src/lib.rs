//! Herald's SMPP 3.4 layer, shared by the carrier side (Herald as ESME) and the SMSC side (the
//! simulated carrier, and customers binding to Herald).
//!
//! # Layout
//! (filled in as the modules land)

pub mod frame;
pub mod ids;
pub mod session;
