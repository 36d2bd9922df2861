//! The JSON API, `/v1` (api.md §2 and §3): HTTP Basic auth with the plain-text API's
//! credentials, JSON bodies, and one error shape for every failure.
//!
//! # Layout
//! Each resource owns its routes (`router()`); this module only merges them.
//! - `omnimessage`: sending (one or in bulk), status and withdrawal of omnimessages (sms only).
//! - `blacklist`: the account's blacklist as the phonebook API (camelCase bodies).
//! - `messages`: Herald's own resource API, `GET /v1/messages` and `GET /v1/messages/{id}`.
//! - `openapi`: the OpenAPI document of every Herald endpoint (`docs/openapi.json`), served.
//! - `ids`: message ids in Herald's and the UUID form. `time`: RFC 3339 timestamps.
//! - `auth`: the Basic-auth [`auth::Customer`] extractor. `error`: [`error::ApiError`], the
//!   `{ "errors": [...] }` answer. `json`: request bodies ([`json::JsonBody`]).

use axum::extract::DefaultBodyLimit;
use axum::http::Uri;

use super::{ApiState, RouteTable};

pub mod auth;
pub mod blacklist;
pub mod error;
pub mod ids;
pub mod json;
pub mod messages;
pub mod omnimessage;
pub mod openapi;
pub mod time;

use error::ApiError;

/// Every `/v1` route, with `/v1` errors for a wrong method (405, "107"), an unknown path under
/// `/v1` (404, "101") and a body over [`json::BODY_LIMIT`] (413, "105").
pub(super) fn routes() -> RouteTable<ApiState> {
    RouteTable::new()
        .merge(omnimessage::router())
        .merge(blacklist::router())
        .merge(messages::router())
        .merge(openapi::router())
        .map_router(|router| {
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
