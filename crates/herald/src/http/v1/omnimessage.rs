//! Omnimessages (api.md §2): `POST /v1/omnimessage` sends one, `POST /v1/omnimessages` many
//! (each accepted or refused on its own), `GET /v1/omnimessage/{id}/status` reads its delivery
//! status, `DELETE /v1/omnimessage/{id}` withdraws it while it is still scheduled.
//!
//! Herald serves the `sms` channel only: an omnimessage is one SMS, and its `omnimessage_id`
//! and `message_id` are both the message's id in UUID form. Any other channel is a 400 naming
//! the channel. As on the plain-text API, what is a property of the message (an impossible
//! number, a sender the account may not use, the blacklist, duplicates, credit) is not an
//! error here: the message is accepted and ends Rejected with its `err`, which the status and
//! the delivery report show (status-model §4). Only what makes the request unusable is a 4xx.
//!
//! A message accepted here is marked [`CallbackFormat::Json`]: its delivery reports go to its
//! `dlr_url` as signed JSON webhooks. `/v1` does not fall back to the account's `dlr-url`,
//! which receives the plain-text API's GET callbacks.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use herald_smpp::text::Autoconvert;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::auth::Customer;
use super::error::{ApiError, ErrorItem, payload};
use super::ids;
use super::json::{self, JsonBody};
use super::time;
use crate::config::{MAX_VALIDITY_MINUTES, is_http_url};
use crate::domain::{ErrCode, MessageId, Status};
use crate::http::ApiState;
use crate::http::RouteTable;
use crate::http::send_sms::{self, Content, ParamProblem, SendRequest, To};
use crate::money::Money;
use crate::store::{
    Account, CallbackFormat, CancelOutcome, MessageView, Millis, NewMessage, Priority, TextStore,
};

/// Omnimessages one bulk request may carry.
pub const MAX_BULK: usize = 1000;

pub(super) fn router() -> RouteTable<ApiState> {
    RouteTable::new()
        .post("/v1/omnimessage", post_omnimessage)
        .post("/v1/omnimessages", post_omnimessages)
        .get("/v1/omnimessage/{id}/status", get_omnimessage_status)
        .delete("/v1/omnimessage/{id}", delete_omnimessage)
}

/// An omnimessage as the client sends it. Fields Herald does not know are ignored, as the
/// published clients' own models do.
#[derive(Debug, Deserialize)]
struct OmnimessageRequest {
    to: String,
    messages: Vec<Value>,
    dlr_url: Option<String>,
    text_store: Option<TextStoreName>,
    time_to_send: Option<String>,
    priority: Option<PriorityName>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum TextStoreName {
    Plaintext,
    Sha256,
    Nostore,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum PriorityName {
    Low,
    Regular,
    High,
}

/// One `sms` item of `messages`.
#[derive(Debug, Deserialize)]
struct SmsItem {
    text: String,
    sender: Option<String>,
    /// Minutes.
    validity: Option<u64>,
    /// Seconds.
    ttl: Option<u64>,
    autoconvert: Option<AutoconvertName>,
    udh: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum AutoconvertName {
    On,
    Full,
    Off,
}

#[derive(Debug, Serialize)]
struct Created {
    messages: Vec<CreatedMessage>,
    to: String,
    omnimessage_id: String,
}

#[derive(Debug, Serialize)]
struct CreatedMessage {
    channel: &'static str,
    message_id: String,
    sender: String,
}

async fn post_omnimessage(
    State(state): State<ApiState>,
    customer: Customer,
    JsonBody(body): JsonBody<Value>,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    let message = omnimessage(&state, &customer.account, body, &[])?;
    let created = created(&message);
    send_sms::commit(&state, message).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

#[derive(Debug, Deserialize)]
struct BulkRequest {
    messages: Vec<Value>,
}

/// Each item of a bulk answer: the omnimessage created, or why this one was refused.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum BulkItem {
    Created(Created),
    Refused { errors: Vec<ErrorItem> },
}

#[derive(Debug, Serialize)]
struct BulkCreated {
    messages: Vec<BulkItem>,
}

async fn post_omnimessages(
    State(state): State<ApiState>,
    customer: Customer,
    JsonBody(body): JsonBody<BulkRequest>,
) -> Result<(StatusCode, Json<BulkCreated>), ApiError> {
    if body.messages.is_empty() {
        return Err(ApiError::missing(
            payload(["messages"]),
            "messages needs at least one omnimessage",
        ));
    }
    if body.messages.len() > MAX_BULK {
        return Err(ApiError::invalid(
            payload(["messages"]),
            format!("At most {MAX_BULK} omnimessages per request"),
        ));
    }
    let parsed: Vec<Result<NewMessage, ApiError>> = body
        .messages
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let at = ["messages".to_owned(), i.to_string()];
            omnimessage(&state, &customer.account, item, &at)
        })
        .collect();
    // Concurrent accepts share the store's commits: one fsync for the whole bulk, not one each.
    let results = futures_util::future::join_all(parsed.into_iter().map(|parsed| {
        let state = state.clone();
        async move {
            let message = parsed?;
            let created = created(&message);
            send_sms::commit(&state, message).await?;
            Ok::<_, ApiError>(created)
        }
    }))
    .await;
    let messages = results
        .into_iter()
        .map(|result| match result {
            Ok(created) => BulkItem::Created(created),
            Err(error) => BulkItem::Refused {
                errors: error.errors,
            },
        })
        .collect();
    Ok((StatusCode::CREATED, Json(BulkCreated { messages })))
}

/// The answer to a created omnimessage.
fn created(message: &NewMessage) -> Created {
    let uuid = ids::uuid(&message.id);
    Created {
        messages: vec![CreatedMessage {
            channel: "sms",
            message_id: uuid.clone(),
            sender: message.sender.clone(),
        }],
        to: shown_number(&message.destination),
        omnimessage_id: uuid,
    }
}

/// `+` and the digits of a number; what did not parse is shown as it is kept.
fn shown_number(destination: &str) -> String {
    if !destination.is_empty() && destination.bytes().all(|b| b.is_ascii_digit()) {
        format!("+{destination}")
    } else {
        destination.to_owned()
    }
}

/// One omnimessage (found at `at` in the body) checked and turned into the message to store.
fn omnimessage(
    state: &ApiState,
    account: &Account,
    body: Value,
    at: &[String],
) -> Result<NewMessage, ApiError> {
    let source =
        |field: &[&str]| payload(at.iter().map(String::as_str).chain(field.iter().copied()));
    if !body.is_object() {
        return Err(ApiError::invalid(
            source(&[]),
            "An omnimessage is a JSON object",
        ));
    }
    let request: OmnimessageRequest = json::from_value(body, at)?;
    let sms = sms_item(request.messages, at)?;
    let now = (state.clock)();

    if request.to.trim().is_empty() {
        return Err(ApiError::missing(source(&["to"]), "to is required"));
    }
    let autoconvert = match sms.autoconvert {
        None | Some(AutoconvertName::On) => Autoconvert::On,
        Some(AutoconvertName::Full) => Autoconvert::Full,
        Some(AutoconvertName::Off) => Autoconvert::Off,
    };
    let udh = match &sms.udh {
        None => None,
        Some(hex) => Some(send_sms::parse_udh(hex).ok_or_else(|| {
            ApiError::invalid(
                source(&["messages", "0", "udh"]),
                "udh is hex, its length octet first",
            )
        })?),
    };
    let content = Content::Text(sms.text.clone());
    send_sms::check_fits(&content, autoconvert, udh.as_deref()).map_err(|problem| {
        let text = source(&["messages", "0", "text"]);
        match problem {
            ParamProblem::Missing(_) => ApiError::missing(text, "text is required"),
            ParamProblem::TooLongForUdh => ApiError::invalid(
                source(&["messages", "0", "udh"]),
                "With its own udh the message must fit one segment",
            ),
            other => ApiError::invalid(text, other.to_string()),
        }
    })?;

    let sender = match sms.sender.as_deref().map(str::trim) {
        Some(s) if !s.is_empty() => s.to_owned(),
        _ => account.record.senders.first().cloned().ok_or_else(|| {
            ApiError::missing(
                source(&["messages", "0", "sender"]),
                "sender is required: the account has no default sender",
            )
        })?,
    };
    let dlr_url = match request.dlr_url.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(url) if is_http_url(url) => Some(url.to_owned()),
        Some(_) => {
            return Err(ApiError::invalid(
                source(&["dlr_url"]),
                "dlr_url is an http:// or https:// URL",
            ));
        }
    };
    let not_before = match request.time_to_send.as_deref() {
        None => now,
        Some(t) => time::parse_lenient(t)
            .ok_or_else(|| {
                ApiError::invalid(
                    source(&["time_to_send"]),
                    "time_to_send is an ISO 8601 time, e.g. 2026-12-01T10:00:00Z",
                )
            })?
            .max(now),
    };
    let validity_minutes = validity_minutes(&sms, state.defaults.validity_minutes)
        .map_err(|(field, detail)| ApiError::invalid(source(&["messages", "0", field]), detail))?;
    let text_store = match request.text_store {
        None | Some(TextStoreName::Plaintext) => TextStore::Plaintext,
        Some(TextStoreName::Sha256) => TextStore::Sha256,
        Some(TextStoreName::Nostore) => TextStore::Nostore,
    };
    let priority = match request.priority {
        None | Some(PriorityName::Regular) => Priority::Regular,
        Some(PriorityName::Low) => Priority::Low,
        Some(PriorityName::High) => Priority::High,
    };

    let request = SendRequest {
        destination: To::parse(&request.to),
        content,
        sender,
        dlr_url,
        not_before,
        validity_minutes,
        autoconvert,
        udh,
        mclass: None,
        text_store,
    };
    let id = MessageId::generate();
    let mut message = request.into_message(account, &state.routes, id, now, rand::random());
    message.priority = priority;
    message.callback_format = CallbackFormat::Json;
    message.omnimessage_id = Some(ids::uuid(&message.id));
    Ok(message)
}

/// The one `sms` item of `messages`; any other channel is refused by name.
fn sms_item(messages: Vec<Value>, at: &[String]) -> Result<SmsItem, ApiError> {
    let path = |i: usize, field: Option<&str>| {
        let mut p = at.to_vec();
        p.extend(["messages".to_owned(), i.to_string()]);
        p.extend(field.map(str::to_owned));
        p
    };
    if messages.is_empty() {
        let mut p = at.to_vec();
        p.push("messages".into());
        return Err(ApiError::missing(
            payload(&p),
            "messages needs one sms message",
        ));
    }
    let count = messages.len();
    for (i, item) in messages.iter().enumerate() {
        let channel = match item.get("channel") {
            None | Some(Value::Null) => "sms",
            Some(Value::String(c)) => c.as_str(),
            Some(_) => {
                return Err(ApiError::invalid(
                    payload(path(i, Some("channel"))),
                    "channel is a string",
                ));
            }
        };
        if channel != "sms" {
            return Err(ApiError::invalid(
                payload(path(i, Some("channel"))),
                format!("Herald sends only the sms channel, not {channel}"),
            ));
        }
        if i > 0 {
            return Err(ApiError::invalid(
                payload(path(i, None)),
                format!("An omnimessage is one sms message; this one has {count}"),
            ));
        }
    }
    let item = messages.into_iter().next().expect("checked non-empty");
    if !item.is_object() {
        return Err(ApiError::invalid(
            payload(path(0, None)),
            "A message is a JSON object",
        ));
    }
    json::from_value(item, &path(0, None))
}

/// `validity` (minutes) or `ttl` (seconds, rounded up to minutes), not both, never zero; longer
/// than the network keeps a message is capped rather than refused, as on the plain-text API.
fn validity_minutes(sms: &SmsItem, default: u32) -> Result<u32, (&'static str, &'static str)> {
    let minutes = match (sms.validity, sms.ttl) {
        (Some(_), Some(_)) => return Err(("ttl", "Give validity or ttl, not both")),
        (Some(0), None) => return Err(("validity", "validity is at least 1 minute")),
        (None, Some(0)) => return Err(("ttl", "ttl is at least 1 second")),
        (Some(m), None) => m,
        (None, Some(s)) => s.div_ceil(60),
        (None, None) => return Ok(default),
    };
    Ok(minutes.min(u64::from(MAX_VALIDITY_MINUTES)) as u32)
}

#[derive(Debug, Serialize)]
struct StatusBody {
    omnimessage_id: String,
    to: String,
    statuses: Vec<DeliveryResult>,
}

/// One channel's delivery status, as the published clients read it.
#[derive(Debug, Serialize)]
struct DeliveryResult {
    channel: &'static str,
    message_id: String,
    sender: String,
    /// The `stat` of the last report (`ACCEPTD`, `DELIVRD`, `REJECTD`...); null while the
    /// message has not reached a carrier.
    status: Option<&'static str>,
    /// The `err` code as an integer (0 when there is no error); null with `status`.
    err: Option<u16>,
    /// What `err` means; null on success or while nothing is known.
    error: Option<&'static str>,
    /// When the message last changed.
    timestamp: String,
    /// What it costs: absent for a Rejected message (which costs nothing) or one never routed.
    #[serde(skip_serializing_if = "Option::is_none")]
    price_info: Option<PriceInfo>,
}

#[derive(Debug, Serialize)]
struct PriceInfo {
    part_price: String,
    parts_count: u32,
    total_price: String,
}

/// The message's price: its route's price per segment, times its segments.
fn price_info(view: &MessageView) -> Option<PriceInfo> {
    if view.status == Status::Rejected {
        return None;
    }
    let part = Money::parse(view.price.as_deref()?).ok()?;
    Some(PriceInfo {
        part_price: part.to_string(),
        parts_count: view.segment_count,
        total_price: part.times(view.segment_count)?.to_string(),
    })
}

async fn get_omnimessage_status(
    State(state): State<ApiState>,
    customer: Customer,
    Path(id): Path<String>,
) -> Result<Json<StatusBody>, ApiError> {
    let view = ids::own_message(&state, &customer, &id).await?;
    let uuid = ids::uuid(&view.id);
    Ok(Json(StatusBody {
        omnimessage_id: view.omnimessage_id.clone().unwrap_or_else(|| uuid.clone()),
        to: shown_number(&view.destination),
        statuses: vec![DeliveryResult {
            channel: "sms",
            message_id: uuid,
            sender: view.sender.clone(),
            status: view.report.map(|r| r.stat.as_str()),
            err: view.report.map(|r| r.err.0),
            error: view.report.and_then(|r| error_text(r.err)),
            timestamp: time::format(view.updated_at),
            price_info: price_info(&view),
        }],
    }))
}

/// What an `err` code means (status-model §2).
fn error_text(err: ErrCode) -> Option<&'static str> {
    Some(match err.0 {
        0 => return None,
        1 => "Failed to deliver",
        2 => "Sending expired",
        3 => "Invalid number",
        4 => "Error crediting account",
        5 => "Could not determine destination country or operator, or invalid number format",
        6 => "Too many identical messages to the same number",
        7 => "Sender name not allowed",
        8 => "Number is in blacklist",
        _ => "General temporary error",
    })
}

/// 202 for a scheduled message, which is withdrawn (it ends Rejected, `DELETED`, with its
/// delivery report); 404 for anything else, including a message already with a carrier.
async fn delete_omnimessage(
    State(state): State<ApiState>,
    customer: Customer,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let view = ids::own_message(&state, &customer, &id).await?;
    let not_scheduled = || ApiError::not_found(format!("No scheduled message {id}"));
    if view.status != Status::Scheduled {
        return Err(not_scheduled());
    }
    let now: Millis = (state.clock)();
    match state
        .store
        .cancel(&view.id, customer.account.id, now)
        .await?
    {
        CancelOutcome::Cancelled => {
            state.callback_wake.notify_one();
            Ok((StatusCode::ACCEPTED, Json(serde_json::json!({}))))
        }
        CancelOutcome::Unknown | CancelOutcome::TooLate => Err(not_scheduled()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sms(validity: Option<u64>, ttl: Option<u64>) -> SmsItem {
        SmsItem {
            text: "hi".into(),
            sender: None,
            validity,
            ttl,
            autoconvert: None,
            udh: None,
        }
    }

    #[test]
    fn ttl_is_rounded_up_to_minutes_and_validity_or_ttl_not_both() {
        assert_eq!(validity_minutes(&sms(None, None), 360), Ok(360));
        assert_eq!(validity_minutes(&sms(Some(10), None), 360), Ok(10));
        assert_eq!(validity_minutes(&sms(None, Some(21_600)), 360), Ok(360));
        assert_eq!(validity_minutes(&sms(None, Some(61)), 360), Ok(2));
        assert!(validity_minutes(&sms(Some(1), Some(60)), 360).is_err());
        assert!(validity_minutes(&sms(Some(0), None), 360).is_err());
    }

    #[test]
    fn only_one_sms_item_is_served_and_other_channels_are_named() {
        let e = sms_item(
            vec![serde_json::json!({"channel": "viber", "text": "hi"})],
            &[],
        )
        .unwrap_err();
        assert_eq!(e.errors[0].code, "105");
        assert_eq!(
            e.errors[0].source.as_deref(),
            Some("payload[messages][0][channel]")
        );
        assert!(e.errors[0].detail.contains("viber"));

        let two = vec![
            serde_json::json!({"text": "a"}),
            serde_json::json!({"channel": "sms", "text": "b"}),
        ];
        let e = sms_item(two, &["messages".into(), "3".into()]).unwrap_err();
        assert_eq!(
            e.errors[0].source.as_deref(),
            Some("payload[messages][3][messages][1]")
        );

        let e = sms_item(vec![serde_json::json!({"channel": "sms"})], &[]).unwrap_err();
        assert_eq!(e.errors[0].code, "106");
        assert_eq!(
            e.errors[0].source.as_deref(),
            Some("payload[messages][0][text]")
        );
    }
}
