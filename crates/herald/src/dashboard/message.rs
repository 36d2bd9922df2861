//! One message with its whole timeline —
//! accepted, each segment submitted, each receipt with its raw text and TLVs, each status change,
//! each callback attempt — and the button that replays its callback.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};

use super::{DashboardState, PageError, Viewer, format, is_htmx, respond};
use crate::domain::MessageId;
use crate::store::{Event, MessageView, ReplayOutcome};

/// One line of the timeline.
struct Entry {
    at: String,
    kind: String,
    title: String,
    /// The event's facts as (name, value), in the order stored.
    facts: Vec<(String, String)>,
    /// A receipt's text exactly as the carrier sent it.
    raw: Option<String>,
    /// A receipt's TLVs as (tag, value hex).
    tlvs: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "dashboard/message.html")]
struct MessageBody {
    id: String,
    status: &'static str,
    status_class: &'static str,
    report: String,
    destination: String,
    sender: String,
    text: String,
    carrier: String,
    segments: u32,
    accepted: String,
    updated: String,
    entries: Vec<Entry>,
    callback_attempts: usize,
    notice: String,
    csrf: String,
}

pub async fn show(
    State(state): State<DashboardState>,
    viewer: Viewer,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let view = visible_message(&state, &viewer, &id).await?;
    let body = body(&state, &viewer, view, String::new()).await?;
    respond(&headers, &viewer.0, "Message", "messages", body)
}

pub async fn replay(
    State(state): State<DashboardState>,
    viewer: Viewer,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let view = visible_message(&state, &viewer, &id).await?;
    let owner = (!viewer.0.operator).then_some(viewer.0.account_id);
    let outcome = state
        .store
        .replay_callback(&view.id, owner, (state.clock)())
        .await?;
    let notice = match outcome {
        ReplayOutcome::Queued { .. } => {
            state.callback_wake.notify_one();
            "The callback is queued again with the message's current report.".to_owned()
        }
        ReplayOutcome::NoReport => "Nothing to replay: the message has no report yet.".into(),
        ReplayOutcome::NoUrl => "Nothing to replay: the message has no callback URL.".into(),
        ReplayOutcome::Unknown => return Err(PageError::NotFound),
    };
    if !is_htmx(&headers) {
        return Ok(Redirect::to(&format!("/dashboard/messages/{}", view.id)).into_response());
    }
    let body = body(&state, &viewer, view, notice).await?;
    respond(&headers, &viewer.0, "Message", "messages", body)
}

/// The message `id`, if it exists and the viewer may see it (its account's, or an operator).
async fn visible_message(
    state: &DashboardState,
    viewer: &Viewer,
    id: &str,
) -> Result<MessageView, PageError> {
    let id = MessageId::parse(id).ok_or(PageError::NotFound)?;
    state
        .store
        .message(&id)
        .await?
        .filter(|m| viewer.0.operator || m.account_id == viewer.0.account_id)
        .ok_or(PageError::NotFound)
}

async fn body(
    state: &DashboardState,
    viewer: &Viewer,
    view: MessageView,
    notice: String,
) -> Result<MessageBody, PageError> {
    let history = state.store.history(&view.id).await?;
    let entries: Vec<Entry> = history.iter().map(entry).collect();
    Ok(MessageBody {
        id: view.id.to_string(),
        status: format::status(view.status),
        status_class: view.status.as_str(),
        report: view
            .report
            .map(|r| {
                format!(
                    "{} {} dlr-mask {} err {}",
                    r.status.callback_status().unwrap_or("-"),
                    r.stat.as_str(),
                    r.dlr_mask,
                    r.err
                )
            })
            .unwrap_or_default(),
        destination: format!("+{}", view.destination),
        sender: view.sender,
        text: view.text.unwrap_or_default(),
        carrier: view.carrier.unwrap_or_default(),
        segments: view.segment_count,
        accepted: format::time_ms(view.accepted_at),
        updated: format::time_ms(view.updated_at),
        callback_attempts: entries.iter().filter(|e| e.kind == "callback").count(),
        entries,
        notice,
        csrf: viewer.0.csrf.clone(),
    })
}

fn entry(event: &Event) -> Entry {
    let segment = event
        .segment
        .map(|s| format!(" (segment {})", s + 1))
        .unwrap_or_default();
    let field = |name: &str| {
        event
            .detail
            .get(name)
            .map(value_text)
            .filter(|v| !v.is_empty())
    };
    let title = match event.kind.as_str() {
        "accepted" => "Accepted".to_owned(),
        "submit" => format!(
            "Submitted to {}{segment}",
            field("carrier").unwrap_or_default()
        ),
        "receipt" => format!(
            "Receipt {}{segment}",
            field("stat_word").unwrap_or_else(|| "without stat".into())
        ),
        "status" => format!(
            "Status {} ({})",
            field("status").unwrap_or_default().to_uppercase(),
            field("stat").unwrap_or_default()
        ),
        "callback" => format!(
            "Callback attempt: {}",
            field("http_status")
                .map(|s| format!("HTTP {s}"))
                .or_else(|| field("error"))
                .unwrap_or_else(|| "no answer".into())
        ),
        "replay" => "Callback replayed".to_owned(),
        "charge" => "Charged".to_owned(),
        "refund" => "Refunded".to_owned(),
        "rule" => "Refused by a rule".to_owned(),
        "expired" => "Expired".to_owned(),
        "cancelled" => "Cancelled".to_owned(),
        other => other.to_owned(),
    };
    let facts = event
        .detail
        .as_object()
        .map(|fields| {
            fields
                .iter()
                .filter(|(name, _)| !matches!(name.as_str(), "raw_text" | "tlvs"))
                .map(|(name, value)| (name.clone(), fact_text(name, value)))
                .filter(|(_, value)| !value.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let tlvs = event
        .detail
        .get("tlvs")
        .and_then(|t| t.as_array())
        .map(|tlvs| tlvs.iter().filter_map(tlv).collect())
        .unwrap_or_default();
    Entry {
        at: format::time_ms(event.at),
        kind: event.kind.clone(),
        title,
        facts,
        raw: event
            .detail
            .get("raw_text")
            .and_then(|r| r.as_str())
            .map(str::to_owned),
        tlvs,
    }
}

/// A TLV as stored: `[tag, "hex"]` (or `{"tag", "value"}`), shown as (`0x001e`, hex).
fn tlv(value: &serde_json::Value) -> Option<(String, String)> {
    let (tag, hex) = match value {
        serde_json::Value::Array(pair) => (pair.first()?, pair.get(1)?),
        serde_json::Value::Object(o) => (o.get("tag")?, o.get("value")?),
        _ => return None,
    };
    Some((format!("0x{:04x}", tag.as_u64()?), value_text(hex)))
}

/// Times are stored as epoch milliseconds; they read as UTC times.
fn fact_text(name: &str, value: &serde_json::Value) -> String {
    let is_time = name.ends_with("_at") || matches!(name, "not_before" | "valid_until");
    match value.as_i64() {
        Some(at) if is_time => format::time_ms(at),
        _ => value_text(value),
    }
}

fn value_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
