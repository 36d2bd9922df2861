//! The dashboard: a web application for the people who send messages and the people who run the
//! gateway, served under `/dashboard` on the HTTP listener.
//!
//! Pages are rendered on the server from askama templates (checked at compile time, HTML escaped
//! by default); htmx, vendored and embedded in the binary, swaps fragments for live refresh and
//! forms. A handler answers an htmx request (`HX-Request`) with its page's fragment and any other
//! with the whole page, so every page also works without JavaScript.
//!
//! One module per page: `overview`, `messages` (the list), `message` (one message), `carriers`,
//! `account`; `login` and `session` (who is looking), `assets`, `format` (how values read).
//!
//! Architecture Invariant: the dashboard reads and changes state only through the [`Store`]
//! trait and the carriers' status snapshots; it has no SQL and decides nothing about messages.
//!
//! [`Store`]: crate::store::Store

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use askama::Template;
use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use tokio::sync::Notify;

use crate::access::AllowLists;
use crate::accounts::Authenticator;
use crate::carrier::CarrierLink;
use crate::clock::Clock;
use crate::store::{Account, SharedStore, StoreError};

mod account;
mod assets;
mod carriers;
mod format;
mod login;
mod message;
mod messages;
mod overview;
pub mod session;

use session::{Session, Sessions};

/// Largest form the dashboard reads (a blacklist number, a login): anything bigger is refused.
const MAX_FORM: usize = 16 * 1024;
/// A session unused this long ends.
const SESSION_IDLE: Duration = Duration::from_secs(8 * 3600);

/// What the dashboard's handlers share.
#[derive(Clone)]
pub struct DashboardState {
    pub store: SharedStore,
    pub auth: Arc<Authenticator>,
    pub sessions: Arc<Sessions>,
    /// Usernames of the operator accounts.
    pub operators: Arc<HashSet<String>>,
    pub carriers: Arc<BTreeMap<String, CarrierLink>>,
    /// The carriers page's previous counters, for its rates.
    pub rates: Arc<carriers::Rates>,
    /// Woken when a replayed callback is queued.
    pub callback_wake: Arc<Notify>,
    pub clock: Clock,
    /// The accounts' `allowed_ips`, checked at login as the APIs check them per request.
    pub allow_lists: Arc<AllowLists>,
}

impl DashboardState {
    pub fn new(
        store: SharedStore,
        auth: Arc<Authenticator>,
        operators: impl IntoIterator<Item = String>,
        carriers: impl IntoIterator<Item = (String, CarrierLink)>,
        callback_wake: Arc<Notify>,
        clock: Clock,
    ) -> Self {
        Self {
            store,
            auth,
            sessions: Arc::new(Sessions::new(SESSION_IDLE)),
            operators: Arc::new(operators.into_iter().collect()),
            carriers: Arc::new(carriers.into_iter().collect()),
            rates: Arc::default(),
            callback_wake,
            clock,
            allow_lists: Arc::default(),
        }
    }
}

/// The dashboard's routes, all under `/dashboard`.
pub fn router(state: DashboardState) -> Router {
    Router::new()
        .route("/dashboard", get(overview::page))
        .route("/dashboard/", get(overview::page))
        .route("/dashboard/login", get(login::form).post(login::submit))
        .route("/dashboard/logout", post(login::logout))
        .route("/dashboard/messages", get(messages::list))
        .route("/dashboard/messages/{id}", get(message::show))
        .route("/dashboard/messages/{id}/replay", post(message::replay))
        .route("/dashboard/carriers", get(carriers::page))
        .route("/dashboard/account", get(account::page))
        .route("/dashboard/account/blacklist", post(account::blacklist_add))
        .route(
            "/dashboard/account/blacklist/remove",
            post(account::blacklist_remove),
        )
        .route("/dashboard/assets/{name}", get(assets::serve))
        .layer(middleware::from_fn_with_state(state.clone(), csrf_guard))
        .with_state(state)
}

/// Refuses every POST but the login whose CSRF token is not its session's. The token comes as
/// the `X-CSRF-Token` header (htmx) or the form field `csrf`; the body is read here (bounded) and
/// handed on unchanged.
async fn csrf_guard(State(state): State<DashboardState>, req: Request, next: Next) -> Response {
    if req.method() != Method::POST || req.uri().path() == "/dashboard/login" {
        return next.run(req).await;
    }
    let Some(session) = state.sessions.find(req.headers()) else {
        return login_required(req.headers());
    };
    let (parts, body) = req.into_parts();
    let Ok(body) = to_bytes(body, MAX_FORM).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "form too large").into_response();
    };
    let from_header = parts
        .headers
        .get(session::CSRF_HEADER)
        .map(|v| v.as_bytes().to_vec());
    let from_form = crate::http::Params::merge(None, Some(&body))
        .bytes(session::CSRF_FIELD)
        .map(<[u8]>::to_vec);
    if !session::csrf_matches(&session, from_header.or(from_form).as_deref()) {
        return (
            StatusCode::FORBIDDEN,
            "Refused: this form's CSRF token is missing or not this session's. Reload the page \
             and try again.",
        )
            .into_response();
    }
    next.run(Request::from_parts(parts, Body::from(body))).await
}

/// The logged-in person a page is for. A request without a live session is sent to the login
/// page (htmx follows `HX-Redirect`).
pub struct Viewer(pub Session);

impl FromRequestParts<DashboardState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &DashboardState,
    ) -> Result<Self, Self::Rejection> {
        state
            .sessions
            .find(&parts.headers)
            .map(Viewer)
            .ok_or_else(|| login_required(&parts.headers))
    }
}

fn login_required(headers: &HeaderMap) -> Response {
    if is_htmx(headers) {
        (
            [("HX-Redirect", "/dashboard/login")],
            StatusCode::UNAUTHORIZED,
        )
            .into_response()
    } else {
        Redirect::to("/dashboard/login").into_response()
    }
}

fn is_htmx(headers: &HeaderMap) -> bool {
    headers.contains_key("hx-request")
}

impl Viewer {
    /// Whose data the page shows: an operator may name any account (`None`: all of them, when
    /// `all_allowed`), anyone else always sees their own.
    async fn scope(
        &self,
        state: &DashboardState,
        requested: Option<&str>,
        all_allowed: bool,
    ) -> Result<Scope, PageError> {
        let accounts = if self.0.operator {
            state.store.accounts().await?
        } else {
            Vec::new()
        };
        let selected = match requested.filter(|r| !r.is_empty()) {
            Some(name) if self.0.operator => Some(
                accounts
                    .iter()
                    .find(|a| a.record.username == name)
                    .cloned()
                    .ok_or(PageError::NotFound)?,
            ),
            _ if self.0.operator && all_allowed => None,
            _ => Some(self.own_account(state).await?),
        };
        Ok(Scope { accounts, selected })
    }

    async fn own_account(&self, state: &DashboardState) -> Result<Account, PageError> {
        state
            .store
            .account_by_username(&self.0.username)
            .await?
            .ok_or(PageError::NotFound)
    }
}

/// Whose data a page shows, and (for operators) the accounts to choose from.
struct Scope {
    accounts: Vec<Account>,
    /// `None`: every account's.
    selected: Option<Account>,
}

impl Scope {
    fn account_id(&self) -> Option<i64> {
        self.selected.as_ref().map(|a| a.id)
    }

    fn account_name(&self) -> String {
        self.selected
            .as_ref()
            .map(|a| a.record.username.clone())
            .unwrap_or_default()
    }

    fn usernames(&self) -> Vec<String> {
        self.accounts
            .iter()
            .map(|a| a.record.username.clone())
            .collect()
    }
}

/// Why a page cannot be shown.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error("not found")]
    NotFound,
    #[error("only operators see this page")]
    OperatorsOnly,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("rendering: {0}")]
    Render(#[from] askama::Error),
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = match self {
            PageError::NotFound => StatusCode::NOT_FOUND,
            PageError::OperatorsOnly => StatusCode::FORBIDDEN,
            PageError::Store(ref e) => {
                tracing::error!(error = %e, "dashboard store read failed");
                StatusCode::SERVICE_UNAVAILABLE
            }
            PageError::Render(ref e) => {
                tracing::error!(error = %e, "dashboard template failed");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        (status, self.to_string()).into_response()
    }
}

/// The frame around every page: navigation, the session's CSRF token for htmx, the assets.
#[derive(Template)]
#[template(path = "dashboard/layout.html")]
struct Layout<'a> {
    title: &'a str,
    /// Which navigation entry is current.
    nav: &'a str,
    session: &'a Session,
    body: &'a str,
}

/// Answers with `fragment` alone for htmx, and inside the layout otherwise.
fn respond(
    headers: &HeaderMap,
    session: &Session,
    title: &str,
    nav: &str,
    fragment: impl Template,
) -> Result<Response, PageError> {
    let body = fragment.render()?;
    if is_htmx(headers) {
        return Ok(Html(body).into_response());
    }
    let page = Layout {
        title,
        nav,
        session,
        body: &body,
    }
    .render()?;
    Ok((
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::X_FRAME_OPTIONS, "DENY"),
        ],
        Html(page),
    )
        .into_response())
}
