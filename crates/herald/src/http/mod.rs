//! The customer-facing HTTP edge: the plain-text compatibility API (`/send_sms`,
//! `/get_dlr_response`, `/cancel_sms`, `/get_balance`, `/prices`, `/pricelist`) of api.md §1,
//! `/health` and `/metrics` ([`edge`], which also adds the client protection every route passes
//! through), and the JSON API under `/v1` ([`v1`]). Every route is added through a
//! [`RouteTable`], which lists what it routes.
//!
//! Every plain-text answer is HTTP 200 with one line, `OK <value>`, `ERROR <code>` (permanent) or
//! `FAILED <code>` (temporary), typed `text/html; charset=UTF-8` because existing clients check
//! for exactly that.
//!
//! Architecture Invariant: handlers decide nothing about a message's fate beyond what makes the
//! request unusable (status-model §4); everything else becomes a Rejected message in the store.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::Notify;

use crate::access::AllowLists;
use crate::accounts::Authenticator;
use crate::clock::Clock;
use crate::metrics::Metrics;
use crate::routing::Routes;
use crate::store::{Account, SharedStore};

mod balance;
mod cancel_sms;
pub mod client;
pub mod edge;
mod get_dlr_response;
pub mod params;
pub mod rate_limit;
pub mod route_table;
mod send_sms;
pub mod v1;

pub use params::Params;
pub use route_table::{RouteEntry, RouteTable};

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    pub store: SharedStore,
    pub routes: Arc<Routes>,
    pub auth: Arc<Authenticator>,
    /// Woken after a message is accepted for submission.
    pub submit_wake: Arc<Notify>,
    /// Woken after a message is rejected at acceptance (its callback is already queued).
    pub callback_wake: Arc<Notify>,
    pub defaults: ApiDefaults,
    pub clock: Clock,
    /// The accounts' client address allow-lists.
    pub allow_lists: Arc<AllowLists>,
    /// This gateway's metrics, served at `/metrics`.
    pub metrics: Arc<Metrics>,
}

/// Operator defaults the API applies when a request leaves something out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiDefaults {
    /// Validity when `validity` is absent, in minutes.
    pub validity_minutes: u32,
}

impl Default for ApiDefaults {
    fn default() -> Self {
        Self {
            validity_minutes: 360,
        }
    }
}

/// Every route Herald's HTTP edge serves: the plain-text API, `/health`, `/metrics` and `/v1`.
pub fn router(state: ApiState) -> Router {
    routes().into_router().with_state(state)
}

/// The routes of [`router`], listed (the OpenAPI document is checked against this).
pub fn route_entries() -> Vec<RouteEntry> {
    routes().entries().to_vec()
}

fn routes() -> RouteTable<ApiState> {
    plain_text_routes()
        .merge(edge::operator_routes())
        .merge(v1::routes())
}

/// The plain-text API's routes (each path with and without a trailing slash, GET and POST).
fn plain_text_routes() -> RouteTable<ApiState> {
    RouteTable::new()
        .get_post("/send_sms", send_sms::send_sms)
        .get_post("/send_sms/", send_sms::send_sms)
        .get_post("/get_dlr_response", get_dlr_response::get_dlr_response)
        .get_post("/get_dlr_response/", get_dlr_response::get_dlr_response)
        .get_post("/cancel_sms", cancel_sms::cancel_sms)
        .get_post("/cancel_sms/", cancel_sms::cancel_sms)
        .get_post("/get_balance", balance::get_balance)
        .get_post("/get_balance/", balance::get_balance)
        .get_post("/prices", balance::prices)
        .get_post("/prices/", balance::prices)
        .get_post("/pricelist", balance::pricelist)
        .get_post("/pricelist/", balance::pricelist)
}

/// One line of the plain-text API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Ok(String),
    /// Permanent: retrying the same request will not help.
    Error(u16),
    /// Temporary: retry later.
    Failed(u16),
}

/// `ERROR 101`: bad credentials.
pub const BAD_CREDENTIALS: Answer = Answer::Error(101);
/// `ERROR 102`: parameters wrong or missing.
pub const BAD_PARAMETERS: Answer = Answer::Error(102);
/// `ERROR 103`: the client's address is not on the account's allow-list.
pub const SOURCE_NOT_ALLOWED: Answer = Answer::Error(103);
/// `ERROR 107`: unknown `sms_unique_id` (or another account's).
pub const UNKNOWN_ID: Answer = Answer::Error(107);
/// `FAILED 102`: no delivery report yet.
pub const NO_REPORT_YET: Answer = Answer::Failed(102);
/// `FAILED 209`: server failure, retry.
pub const SERVER_FAILURE: Answer = Answer::Failed(209);

impl std::fmt::Display for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Answer::Ok(v) if v.is_empty() => f.write_str("OK"),
            Answer::Ok(v) => write!(f, "OK {v}"),
            Answer::Error(code) => write!(f, "ERROR {code}"),
            Answer::Failed(code) => write!(f, "FAILED {code}"),
        }
    }
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=UTF-8"),
            )],
            self.to_string(),
        )
            .into_response()
    }
}

/// The request's parameters: the query string, plus the body when it is a form (or untyped, as
/// some minimal clients send it). Other bodies are ignored.
fn request_params(query: Option<&str>, body_is_form: bool, body: &[u8]) -> Params {
    let body = (body_is_form && !body.is_empty()).then_some(body);
    Params::merge(query, body)
}

/// Whether a request's body is to be read as form parameters: it says so, or says nothing.
fn body_is_form(headers: &HeaderMap) -> bool {
    const FORM: &str = "application/x-www-form-urlencoded";
    match headers.get(header::CONTENT_TYPE) {
        None => true,
        Some(ct) => ct.to_str().is_ok_and(|ct| {
            ct.trim_start()
                .get(..FORM.len())
                .is_some_and(|start| start.eq_ignore_ascii_case(FORM))
        }),
    }
}

/// A plain-text API request from an authenticated customer: its merged parameters and the
/// account its `username`/`password` open. Rejects with `ERROR 101` (or `FAILED 209` when the
/// account store fails), and with `ERROR 103` when the client's address is not on the account's
/// allow-list, so handlers start from a known customer calling from where it may.
pub(crate) struct Customer {
    pub params: Params,
    pub account: Arc<Account>,
}

impl FromRequest<ApiState> for Customer {
    type Rejection = Answer;

    async fn from_request(req: Request, state: &ApiState) -> Result<Self, Self::Rejection> {
        let query = req.uri().query().map(str::to_owned);
        let form = body_is_form(req.headers());
        let client = client::ClientIp::of(req.extensions());
        let body = Bytes::from_request(req, state)
            .await
            .map_err(|_| BAD_PARAMETERS)?;
        let params = request_params(query.as_deref(), form, &body);
        let account = authenticate(state, &params).await?;
        // After authentication, so a wrong password from anywhere is still ERROR 101 and the
        // answer tells a stranger nothing about the account's allow-list.
        state
            .allow_lists
            .check(&account, client)
            .map_err(|_| SOURCE_NOT_ALLOWED)?;
        Ok(Customer { params, account })
    }
}

/// The account named by `username`/`password`, or the answer to give instead.
async fn authenticate(state: &ApiState, params: &Params) -> Result<Arc<Account>, Answer> {
    let (Some(username), Some(password)) = (params.text("username"), params.bytes("password"))
    else {
        return Err(BAD_CREDENTIALS);
    };
    let Ok(password) = std::str::from_utf8(password) else {
        return Err(BAD_CREDENTIALS);
    };
    match state.auth.verify(username, password).await {
        Ok(Some(account)) => Ok(account),
        Ok(None) => Err(BAD_CREDENTIALS),
        Err(e) => {
            tracing::error!(error = %e, "account lookup failed");
            Err(SERVER_FAILURE)
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
