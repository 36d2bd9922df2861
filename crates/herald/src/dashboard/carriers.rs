//! The carriers, for operators: each bind's state and since when, the window in use, submits and
//! receipts per second, reconnects and the last error, refreshed live.
//!
//! Rates are the difference between this snapshot and the one the page took before (the page
//! polls every 2 seconds), so they read as "per second, lately" without a sampler running when
//! nobody looks.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use askama::Template;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;

use super::{DashboardState, PageError, Viewer, format, respond};
use crate::carrier::{BindState, BindStats, CarrierStats};

/// The previous snapshot's counters per carrier: (when, submits, receipts).
#[derive(Default)]
pub struct Rates {
    last: Mutex<HashMap<String, (Instant, u64, u64)>>,
}

impl Rates {
    /// Submits and receipts per second since the previous call for this carrier (`None` the
    /// first time).
    fn per_second(&self, stats: &CarrierStats) -> Option<(f64, f64)> {
        let now = Instant::now();
        let (submits, receipts) = (stats.submits(), stats.receipts());
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let before = last.insert(stats.name.clone(), (now, submits, receipts))?;
        let secs = now.duration_since(before.0).as_secs_f64();
        (secs >= 0.2).then(|| {
            (
                submits.saturating_sub(before.1) as f64 / secs,
                receipts.saturating_sub(before.2) as f64 / secs,
            )
        })
    }
}

struct BindRow {
    kind: String,
    state: &'static str,
    /// CSS class: up, waiting or down.
    health: &'static str,
    since: String,
    window_in_use: usize,
    window_size: usize,
    reconnects: u64,
    last_error: String,
}

struct CarrierRow {
    name: String,
    submits_per_sec: String,
    receipts_per_sec: String,
    submits: u64,
    receipts: u64,
    binds: Vec<BindRow>,
}

#[derive(Template)]
#[template(path = "dashboard/carriers.html")]
struct CarriersBody {
    carriers: Vec<CarrierRow>,
    updated: String,
}

/// "transceiver", or "transceiver, session 2" when the carrier has several sessions.
fn bind_name(b: &BindStats, several_sessions: bool) -> String {
    let kind = b.kind.as_str();
    if several_sessions {
        format!("{kind}, session {}", b.session)
    } else {
        kind.to_owned()
    }
}

pub async fn page(
    State(state): State<DashboardState>,
    viewer: Viewer,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    if !viewer.0.operator {
        return Err(PageError::OperatorsOnly);
    }
    let carriers = state
        .carriers
        .values()
        .map(|link| {
            let stats = link.stats();
            let several_sessions = stats.binds.iter().any(|b| b.session > 1);
            let rates = state.rates.per_second(&stats);
            let rate = |r: Option<f64>| r.map_or_else(|| "–".to_owned(), |r| format!("{r:.1}"));
            CarrierRow {
                name: stats.name.clone(),
                submits_per_sec: rate(rates.map(|r| r.0)),
                receipts_per_sec: rate(rates.map(|r| r.1)),
                submits: stats.submits(),
                receipts: stats.receipts(),
                binds: stats
                    .binds
                    .iter()
                    .map(|b| BindRow {
                        kind: bind_name(b, several_sessions),
                        state: match b.state {
                            BindState::Bound => "bound",
                            BindState::Connecting => "connecting",
                            BindState::Backoff => "waiting to reconnect",
                            BindState::Stopped => "stopped: credentials refused",
                            BindState::ShutDown => "shut down",
                        },
                        health: match b.state {
                            BindState::Bound => "up",
                            BindState::Connecting | BindState::Backoff => "waiting",
                            BindState::Stopped | BindState::ShutDown => "down",
                        },
                        since: format::time(b.since),
                        window_in_use: b.window_in_use,
                        window_size: b.window_size,
                        reconnects: b.reconnects,
                        last_error: b
                            .last_error
                            .as_ref()
                            .map(|e| format!("{} ({} UTC)", e.message, format::time(e.at)))
                            .unwrap_or_default(),
                    })
                    .collect(),
            }
        })
        .collect();
    let body = CarriersBody {
        carriers,
        updated: format::time((state.clock)()),
    };
    respond(&headers, &viewer.0, "Carriers", "carriers", body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_smpp::session::BindKind;

    fn bind(session: usize, kind: BindKind) -> BindStats {
        BindStats {
            session,
            kind,
            state: BindState::Bound,
            since: 0,
            window_in_use: 0,
            window_size: 10,
            submits: 0,
            receipts: 0,
            reconnects: 0,
            last_error: None,
        }
    }

    #[test]
    fn a_bind_is_named_by_its_session_only_when_the_carrier_has_several() {
        assert_eq!(
            bind_name(&bind(1, BindKind::Transceiver), false),
            "transceiver"
        );
        assert_eq!(
            bind_name(&bind(2, BindKind::Receiver), true),
            "receiver, session 2"
        );
    }
}
