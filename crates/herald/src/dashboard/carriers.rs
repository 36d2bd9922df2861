//! The carriers, for operators: each bind's state, the window in use, reconnects and the last
//! error, refreshed live.

use askama::Template;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;

use super::{DashboardState, PageError, Viewer, format, respond};
use crate::carrier::BindState;

struct BindRow {
    kind: String,
    state: &'static str,
    /// CSS class: up, waiting or down.
    health: &'static str,
    in_flight: usize,
    window: usize,
    reconnects: u64,
    last_error: String,
}

struct CarrierRow {
    name: String,
    binds: Vec<BindRow>,
}

#[derive(Template)]
#[template(path = "dashboard/carriers.html")]
struct CarriersBody {
    carriers: Vec<CarrierRow>,
    updated: String,
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
        .iter()
        .map(|(name, link)| CarrierRow {
            name: name.clone(),
            binds: link
                .status()
                .into_iter()
                .map(|b| {
                    let (state, health) = match b.state {
                        BindState::Bound => ("bound", "up"),
                        BindState::Connecting => ("connecting", "waiting"),
                        BindState::Backoff => ("waiting to reconnect", "waiting"),
                        BindState::Stopped => ("stopped: credentials refused", "down"),
                        BindState::ShutDown => ("shut down", "down"),
                    };
                    BindRow {
                        kind: format!("{:?}", b.kind).to_lowercase(),
                        state,
                        health,
                        in_flight: b.in_flight,
                        window: b.window,
                        reconnects: b.reconnects,
                        last_error: b.last_error.unwrap_or_default(),
                    }
                })
                .collect(),
        })
        .collect();
    let body = CarriersBody {
        carriers,
        updated: format::time((state.clock)()),
    };
    respond(&headers, &viewer.0, "Carriers", "carriers", body)
}
