//! The messages list: newest first, filtered by status, number or sender (the search box), err
//! code and period, a page at a time (over [`Store::list_messages`]). The first page refreshes
//! itself while open; later pages stay put so what one reads does not move.
//!
//! [`Store::list_messages`]: crate::store::Store::list_messages

use askama::Template;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{DashboardState, PageError, Viewer, format, respond};
use crate::domain::{MessageId, Status};
use crate::number::Destination;
use crate::store::{MessageCursor, MessageQuery, Millis};

/// Messages on one page.
const PAGE: u32 = 50;
/// Characters of the text shown in the list.
const TEXT_PREVIEW: usize = 60;
const PERIODS: [(&str, &str, Millis); 5] = [
    ("1h", "last hour", 3_600_000),
    ("24h", "last 24 hours", 86_400_000),
    ("7d", "last 7 days", 7 * 86_400_000),
    ("30d", "last 30 days", 30 * 86_400_000),
    ("all", "any time", 0),
];

#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    /// A number, a sender name, or a message id.
    q: Option<String>,
    status: Option<String>,
    err: Option<String>,
    period: Option<String>,
    account: Option<String>,
    after: Option<String>,
}

struct Line {
    id: String,
    at: String,
    status: &'static str,
    status_class: &'static str,
    destination: String,
    sender: String,
    err: String,
    text: String,
    account: String,
}

#[derive(Template)]
#[template(path = "dashboard/messages.html")]
struct ListBody {
    /// This page's URL, for the live refresh (first page only).
    self_url: String,
    live: bool,
    q: String,
    status: String,
    statuses: Vec<(&'static str, &'static str)>,
    err: String,
    period: String,
    periods: Vec<(&'static str, &'static str)>,
    operator: bool,
    account: String,
    accounts: Vec<String>,
    lines: Vec<Line>,
    next_url: String,
    first_url: String,
    problem: String,
}

pub async fn list(
    State(state): State<DashboardState>,
    viewer: Viewer,
    headers: HeaderMap,
    Query(params): Query<ListParams>,
) -> Result<Response, PageError> {
    let scope = viewer
        .scope(&state, params.account.as_deref(), true)
        .await?;
    let q = params.q.as_deref().unwrap_or_default().trim().to_owned();
    // A message id in the search box opens that message.
    if let Some(id) = MessageId::parse(&q) {
        return Ok(Redirect::to(&format!("/dashboard/messages/{id}")).into_response());
    }
    let mut query = MessageQuery {
        account_id: scope.account_id(),
        limit: PAGE,
        ..MessageQuery::default()
    };
    let mut problems = Vec::new();
    if !q.is_empty() {
        // What reads as a phone number is one; anything else is a sender name.
        match Destination::parse(&q) {
            Ok(number)
                if q.trim_start_matches('+')
                    .bytes()
                    .all(|b| b.is_ascii_digit() || b == b' ') =>
            {
                query.destination = Some(number.digits().to_owned())
            }
            _ => query.sender = Some(q.clone()),
        }
    }
    let status = params.status.clone().unwrap_or_default();
    if !status.is_empty() {
        match Status::parse(&status) {
            Some(s) => query.status = Some(s),
            None => problems.push(format!("no status {status:?}")),
        }
    }
    let err = params.err.clone().unwrap_or_default();
    if !err.trim().is_empty() {
        match err.trim().parse::<u16>() {
            Ok(code) => query.err = Some(code),
            Err(_) => problems.push(format!("err {err:?} is not a three-digit code")),
        }
    }
    let period = PERIODS
        .iter()
        .find(|(name, _, _)| Some(*name) == params.period.as_deref())
        .unwrap_or(&PERIODS[1]);
    if period.2 > 0 {
        query.accepted_from = Some((state.clock)() - period.2);
    }
    query.after = params.after.as_deref().and_then(MessageCursor::decode);

    let page = state.store.list_messages(query).await?;
    let names: std::collections::HashMap<i64, String> = scope
        .accounts
        .iter()
        .map(|a| (a.id, a.record.username.clone()))
        .collect();
    let lines = page
        .messages
        .into_iter()
        .map(|m| Line {
            id: m.id.to_string(),
            at: format::time(m.accepted_at),
            status: format::status(m.status),
            status_class: m.status.as_str(),
            destination: format!("+{}", m.destination),
            sender: m.sender,
            err: m
                .report
                .filter(|r| r.err.0 != 0)
                .map(|r| r.err.to_string())
                .unwrap_or_default(),
            text: preview(m.text.as_deref().unwrap_or_default()),
            account: names.get(&m.account_id).cloned().unwrap_or_default(),
        })
        .collect();

    let filters = Filters {
        q: &q,
        status: &status,
        err: &err,
        period: period.0,
        account: &scope.account_name(),
    };
    let body = ListBody {
        self_url: filters.url(None),
        live: params.after.is_none(),
        next_url: page
            .next
            .map(|cursor| filters.url(Some(cursor)))
            .unwrap_or_default(),
        first_url: filters.url(None),
        q: q.clone(),
        status,
        statuses: Status::ALL
            .iter()
            .map(|s| (s.as_str(), format::status(*s)))
            .collect(),
        err,
        period: period.0.to_owned(),
        periods: PERIODS.iter().map(|(n, l, _)| (*n, *l)).collect(),
        operator: viewer.0.operator,
        account: scope.account_name(),
        accounts: scope.usernames(),
        lines,
        problem: problems.join("; "),
    };
    respond(&headers, &viewer.0, "Messages", "messages", body)
}

/// The list's filters, for the links that keep them.
struct Filters<'a> {
    q: &'a str,
    status: &'a str,
    err: &'a str,
    period: &'a str,
    account: &'a str,
}

impl Filters<'_> {
    fn url(&self, after: Option<MessageCursor>) -> String {
        let mut url = format!("/dashboard/messages?period={}", self.period);
        for (name, value) in [
            ("q", self.q),
            ("status", self.status),
            ("err", self.err),
            ("account", self.account),
        ] {
            if !value.is_empty() {
                url.push_str(&format!("&{name}={}", format::query_value(value)));
            }
        }
        if let Some(after) = after {
            url.push_str(&format!("&after={}", after.encode()));
        }
        url
    }
}

fn preview(text: &str) -> String {
    let mut chars = text.chars();
    let mut out: String = chars.by_ref().take(TEXT_PREVIEW).collect();
    if chars.next().is_some() {
        out.push('…');
    }
    out
}
