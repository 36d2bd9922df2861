//! The JSON API, `/v1` (api.md §2 and §3): HTTP Basic auth with the plain-text API's
//! credentials, JSON bodies, and one error shape for every failure.
//!
//! # Layout
//! Each resource owns its routes (`router()`); this module only merges them.
//! - `auth`: the Basic-auth [`auth::Customer`] extractor (the plain-text API's accounts and
//!   `Authenticator`).
//! - `error`: [`error::ApiError`], the `{ "errors": [...] }` answer. `json`: request bodies
//!   ([`json::JsonBody`]). `time`: RFC 3339 timestamps.

use axum::extract::DefaultBodyLimit;
use axum::http::Uri;

use super::{ApiState, RouteTable};

pub mod auth;
pub mod error;
pub mod json;
pub mod time;

use error::ApiError;

/// Every `/v1` route, with `/v1` errors for a wrong method (405, "107"), an unknown path under
/// `/v1` (404, "101") and a body over [`json::BODY_LIMIT`] (413, "105").
pub(super) fn routes() -> RouteTable<ApiState> {
    RouteTable::new().map_router(|router| {
        router
            .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
            // Not a listed route: it answers only what no route matched.
            .route("/v1/{*rest}", axum::routing::any(unknown_path))
            .layer(DefaultBodyLimit::max(json::BODY_LIMIT))
    })
}

async fn unknown_path(uri: Uri) -> ApiError {
    ApiError::not_found(format!("No resource at {}", uri.path()))
}
