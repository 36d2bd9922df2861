//! What every request passes through before any route, and the operator's endpoints.
//!
//! [`protect`] wraps the whole router (the APIs and the endpoints below) in one middleware that
//! finds the client's address ([`ClientIp`], trusting `X-Forwarded-For` only from configured
//! proxies), applies the per-client request limit (429 with `Retry-After`), and counts the
//! request by route and response class. `operator_routes` serves `/metrics` and `/health`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ipnet::IpNet;

use super::ApiState;
use super::client::{ClientIp, client_ip};
use super::rate_limit::{RateLimit, retry_after_secs};
use super::route_table::RouteTable;
use crate::metrics::{self, Metrics};

/// What the edge middleware needs.
pub struct Edge {
    pub trusted_proxies: Vec<IpNet>,
    /// `None`: no request limit.
    pub rate_limit: Option<Arc<RateLimit>>,
    pub metrics: Arc<Metrics>,
}

/// `router` behind the edge middleware. Serve it with
/// `into_make_service_with_connect_info::<SocketAddr>()`: without the socket peer there is no
/// client address, so no limit applies and allow-lists refuse every request.
pub fn protect(router: Router, edge: Edge) -> Router {
    router.layer(axum::middleware::from_fn_with_state(Arc::new(edge), guard))
}

async fn guard(State(edge): State<Arc<Edge>>, mut req: Request, next: Next) -> Response {
    let client = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| client_ip(c.0, req.headers(), &edge.trusted_proxies));
    if let Some(ip) = client {
        req.extensions_mut().insert(ClientIp(ip));
    }
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let limited = match (client, &edge.rate_limit) {
        (Some(ip), Some(limit)) => limit.check(ip).err(),
        _ => None,
    };
    let response = match limited {
        Some(wait) => too_many_requests(retry_after_secs(wait)),
        None => next.run(req).await,
    };
    edge.metrics
        .http_request(route.as_deref(), response.status().as_u16());
    response
}

fn too_many_requests(retry_after: u64) -> Response {
    (
        StatusCode::TOO_MANY_REQUESTS,
        [(header::RETRY_AFTER, HeaderValue::from(retry_after))],
        format!("too many requests from this address; retry after {retry_after} s\n"),
    )
        .into_response()
}

/// `GET /metrics` (Prometheus text format) and `GET /health`.
pub(super) fn operator_routes() -> RouteTable<ApiState> {
    RouteTable::new()
        .get("/metrics", scrape)
        .get("/health", health)
}

async fn scrape(State(api): State<ApiState>) -> Response {
    match api.store.message_counts().await {
        Ok(counts) => api.metrics.set_message_counts(counts),
        // The other metrics still tell something; the message gauges keep their last values.
        Err(e) => tracing::warn!(error = %e, "reading message counts for /metrics failed"),
    }
    (
        [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        api.metrics.encode(),
    )
        .into_response()
}

/// Ready (200 `ok`) when the store answers a read and some route leads to a carrier (config
/// validation makes every route name a configured carrier); otherwise 503 with the reason.
/// Carriers being bound is not required: a carrier down is Herald's job to wait out, and
/// messages are still accepted meanwhile.
async fn health(State(api): State<ApiState>) -> Response {
    if api.routes.is_empty() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "no route to a carrier configured\n",
        )
            .into_response();
    }
    match api.store.next_callback_due().await {
        Ok(_) => "ok".into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "health: the store does not answer");
            (StatusCode::SERVICE_UNAVAILABLE, "store unavailable\n").into_response()
        }
    }
}
