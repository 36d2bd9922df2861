//! Logging in with an account's API credentials (checked by the same [`Authenticator`] as the
//! API), and logging out.
//!
//! [`Authenticator`]: crate::accounts::Authenticator

use askama::Template;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Extensions, HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};

use super::{DashboardState, PageError, session};
use crate::http::Params;
use crate::http::client::ClientIp;

#[derive(Template)]
#[template(path = "dashboard/login.html")]
struct LoginPage<'a> {
    failed: bool,
    /// The password was right but the account's `allowed_ips` do not include this client.
    refused: bool,
    username: &'a str,
}

pub async fn form(State(state): State<DashboardState>, headers: HeaderMap) -> Response {
    if state.sessions.find(&headers).is_some() {
        return Redirect::to("/dashboard").into_response();
    }
    render(StatusCode::OK, false, false, "")
}

pub async fn submit(
    State(state): State<DashboardState>,
    extensions: Extensions,
    body: Bytes,
) -> Response {
    let params = Params::merge(None, Some(&body));
    let username = params.text("username").unwrap_or_default();
    let password = params.text("password").unwrap_or_default();
    let account = match state.auth.verify(username, password).await {
        Ok(Some(account)) => account,
        Ok(None) => return render(StatusCode::UNAUTHORIZED, true, false, username),
        Err(e) => return PageError::Store(e).into_response(),
    };
    // As on the APIs: checked after the password, so a wrong one reveals nothing.
    if state
        .allow_lists
        .check(&account, ClientIp::of(&extensions))
        .is_err()
    {
        return render(StatusCode::FORBIDDEN, false, true, username);
    }
    let operator = state.operators.contains(&account.record.username);
    let id = state
        .sessions
        .start(account.id, &account.record.username, operator);
    (
        [(header::SET_COOKIE, session::cookie(&id))],
        Redirect::to("/dashboard"),
    )
        .into_response()
}

pub async fn logout(State(state): State<DashboardState>, headers: HeaderMap) -> Response {
    state.sessions.end(&headers);
    (
        [(header::SET_COOKIE, session::expired_cookie())],
        Redirect::to("/dashboard/login"),
    )
        .into_response()
}

fn render(status: StatusCode, failed: bool, refused: bool, username: &str) -> Response {
    match (LoginPage {
        failed,
        refused,
        username,
    })
    .render()
    {
        Ok(page) => (status, Html(page)).into_response(),
        Err(e) => PageError::Render(e).into_response(),
    }
}
