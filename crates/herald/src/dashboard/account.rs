//! The account page: balance, sender names, the callback URL, the webhook secret, and the
//! account's blacklist, to which numbers can be added and from which they can be removed.
//! Operators choose the account.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{DashboardState, PageError, Scope, Viewer, format, is_htmx, respond};
use crate::http::Params;
use crate::number::Destination;
use crate::store::{Account, BlacklistScope};

#[derive(Debug, Default, Deserialize)]
pub struct AccountParams {
    account: Option<String>,
}

#[derive(Template)]
#[template(path = "dashboard/account.html")]
struct AccountBody {
    operator: bool,
    accounts: Vec<String>,
    username: String,
    balance: String,
    senders: Vec<String>,
    dlr_url: String,
    /// What the account's JSON webhooks are signed with (the store makes one on first ask).
    webhook_secret: String,
    blacklist: Vec<String>,
    /// What the last blacklist change did, or why it was refused.
    notice: String,
    refused: bool,
    csrf: String,
}

pub async fn page(
    State(state): State<DashboardState>,
    viewer: Viewer,
    headers: HeaderMap,
    Query(params): Query<AccountParams>,
) -> Result<Response, PageError> {
    let scope = viewer
        .scope(&state, params.account.as_deref(), false)
        .await?;
    let body = body(&state, &viewer, &scope, String::new(), false).await?;
    respond(&headers, &viewer.0, "Account", "account", body)
}

pub async fn blacklist_add(
    State(state): State<DashboardState>,
    viewer: Viewer,
    headers: HeaderMap,
    form: Bytes,
) -> Result<Response, PageError> {
    change_blacklist(state, viewer, headers, form, true).await
}

pub async fn blacklist_remove(
    State(state): State<DashboardState>,
    viewer: Viewer,
    headers: HeaderMap,
    form: Bytes,
) -> Result<Response, PageError> {
    change_blacklist(state, viewer, headers, form, false).await
}

async fn change_blacklist(
    state: DashboardState,
    viewer: Viewer,
    headers: HeaderMap,
    form: Bytes,
    add: bool,
) -> Result<Response, PageError> {
    let form = Params::merge(None, Some(&form));
    let scope = viewer.scope(&state, form.text("account"), false).await?;
    let account = selected(&scope)?;
    let raw = form.text("number").unwrap_or_default();
    let (notice, refused) = match Destination::parse(raw) {
        Err(e) => (format!("{raw:?} is not a phone number: {e}"), true),
        Ok(number) => {
            let list = BlacklistScope::Account(account.id);
            let digits = number.digits();
            let changed = if add {
                let at = (state.clock)();
                state.store.blacklist_add(list, digits, at).await?
            } else {
                state.store.blacklist_remove(list, digits).await?
            };
            let notice = match (add, changed) {
                (true, true) => format!("{number} is now blacklisted."),
                (true, false) => format!("{number} was already blacklisted."),
                (false, true) => format!("{number} is no longer blacklisted."),
                (false, false) => format!("{number} was not blacklisted."),
            };
            (notice, false)
        }
    };
    if !is_htmx(&headers) {
        // A plain form post: back to the page, which shows the list as it now is.
        let mut to = "/dashboard/account".to_owned();
        if viewer.0.operator {
            to.push_str("?account=");
            to.push_str(&format::query_value(&account.record.username));
        }
        return Ok(Redirect::to(&to).into_response());
    }
    let body = body(&state, &viewer, &scope, notice, refused).await?;
    respond(&headers, &viewer.0, "Account", "account", body)
}

fn selected(scope: &Scope) -> Result<&Account, PageError> {
    scope.selected.as_ref().ok_or(PageError::NotFound)
}

async fn body(
    state: &DashboardState,
    viewer: &Viewer,
    scope: &Scope,
    notice: String,
    refused: bool,
) -> Result<AccountBody, PageError> {
    let account = selected(scope)?;
    let balance = state.store.balance(account.id).await?;
    let webhook_secret = state.store.webhook_secret(account.id).await?;
    let blacklist = state
        .store
        .blacklist(BlacklistScope::Account(account.id))
        .await?
        .into_iter()
        .map(|digits| format!("+{digits}"))
        .collect();
    Ok(AccountBody {
        operator: viewer.0.operator,
        accounts: scope.usernames(),
        username: account.record.username.clone(),
        balance: balance.to_string(),
        senders: account.record.senders.clone(),
        dlr_url: account.record.dlr_url.clone().unwrap_or_default(),
        webhook_secret,
        blacklist,
        notice,
        refused,
        csrf: viewer.0.csrf.clone(),
    })
}
