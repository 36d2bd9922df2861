//! Where "now" comes from. Production reads the system clock; tests pass a closure they control.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::store::Millis;

pub type Clock = Arc<dyn Fn() -> Millis + Send + Sync>;

/// Milliseconds since the Unix epoch, from the system clock.
pub fn now_millis() -> Millis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as Millis)
        .unwrap_or(0)
}

pub fn system_clock() -> Clock {
    Arc::new(now_millis)
}

/// A clock that always answers `at` (tests).
pub fn fixed_clock(at: Millis) -> Clock {
    Arc::new(move || at)
}
