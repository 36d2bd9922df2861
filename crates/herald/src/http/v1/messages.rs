//! Herald's own resource API (api.md §3): `GET /v1/messages` lists the customer's messages with
//! filters and cursor pagination; `GET /v1/messages/{id}` is one message with its whole history
//! (acceptance, each segment's submits, raw receipts with text and TLVs, callback attempts with
//! the customer's response codes, charges and refunds).

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use serde::{Deserialize, Serialize};

use super::auth::Customer;
use super::error::ApiError;
use super::ids;
use super::time;
use crate::domain::Status;
use crate::http::{ApiState, RouteTable};
use crate::store::{Event, MessageCursor, MessageQuery, MessageView};

/// Messages per page when `limit` is absent, and the most a page holds.
pub const DEFAULT_LIMIT: u32 = 100;
pub const MAX_LIMIT: u32 = 1000;

pub(super) fn router() -> RouteTable<ApiState> {
    RouteTable::new()
        .get("/v1/messages", list_messages)
        .get("/v1/messages/{id}", get_message)
}

/// The query parameters of `GET /v1/messages`, all optional; an unknown one is refused rather
/// than silently ignored (a misspelt filter would otherwise list everything).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    status: Option<String>,
    destination: Option<String>,
    sender: Option<String>,
    since: Option<String>,
    until: Option<String>,
    err: Option<String>,
    cursor: Option<String>,
    limit: Option<String>,
}

/// The wire form of a message.
#[derive(Debug, Serialize)]
pub struct MessageBody {
    /// Herald's id (the plain-text API's `sms_unique_id`).
    pub id: String,
    /// The same id in the UUID form the omnimessage endpoints use.
    pub message_id: String,
    /// `+` and E.164 digits.
    pub to: String,
    pub sender: String,
    /// What is kept of the text (`text_store`): the text, its SHA-256, or null.
    pub text: Option<String>,
    /// scheduled | queued | sent | delivered | failed | rejected
    pub status: &'static str,
    /// The last report told to the customer, if any.
    pub report: Option<ReportBody>,
    pub carrier: Option<String>,
    pub segments: u32,
    pub priority: &'static str,
    /// How its delivery reports go: `query` (the plain-text API's GET) or `json` (webhook).
    pub callback_format: &'static str,
    /// The omnimessage it was sent in (`/v1`), if any.
    pub omnimessage_id: Option<String>,
    pub accepted_at: String,
    pub send_after: String,
    pub updated_at: String,
}

#[derive(Debug, Serialize)]
pub struct ReportBody {
    /// SENT | DELIVERED | FAILED (the callback `status`).
    pub status: Option<&'static str>,
    pub stat: &'static str,
    pub dlr_mask: u8,
    /// Three digits, as in the callback.
    pub err: String,
}

impl From<&MessageView> for MessageBody {
    fn from(view: &MessageView) -> Self {
        MessageBody {
            id: view.id.to_string(),
            message_id: ids::uuid(&view.id),
            to: format!("+{}", view.destination),
            sender: view.sender.clone(),
            text: view.text.clone(),
            status: view.status.as_str(),
            report: view.report.map(|r| ReportBody {
                status: r.status.callback_status(),
                stat: r.stat.as_str(),
                dlr_mask: r.dlr_mask,
                err: format!("{:03}", r.err.0),
            }),
            carrier: view.carrier.clone(),
            segments: view.segment_count,
            priority: view.priority.as_str(),
            callback_format: view.callback_format.as_str(),
            omnimessage_id: view.omnimessage_id.clone(),
            accepted_at: time::format(view.accepted_at),
            send_after: time::format(view.not_before),
            updated_at: time::format(view.updated_at),
        }
    }
}

#[derive(Debug, Serialize)]
struct ListBody {
    messages: Vec<MessageBody>,
    /// Pass as `cursor` for the next page; null on the last page.
    next_cursor: Option<String>,
}

async fn list_messages(
    State(state): State<ApiState>,
    customer: Customer,
    RawQuery(query): RawQuery,
) -> Result<Json<ListBody>, ApiError> {
    let params: ListParams = serde_urlencoded::from_str(query.as_deref().unwrap_or(""))
        .map_err(|e| ApiError::invalid("query", format!("Bad query parameters: {e}")))?;
    let query = message_query(params, customer.account.id)?;
    let page = state.store.list_messages(query).await?;
    Ok(Json(ListBody {
        messages: page.messages.iter().map(MessageBody::from).collect(),
        next_cursor: page.next.map(MessageCursor::encode),
    }))
}

fn message_query(params: ListParams, account_id: i64) -> Result<MessageQuery, ApiError> {
    let bad = |name: &str, detail: String| ApiError::invalid(format!("query[{name}]"), detail);
    let status = match params.status.as_deref() {
        None => None,
        Some(s) => Some(Status::parse(&s.to_ascii_lowercase()).ok_or_else(|| {
            bad(
                "status",
                "status is one of scheduled, queued, sent, delivered, failed, rejected".into(),
            )
        })?),
    };
    let destination = match params.destination.as_deref() {
        None => None,
        Some(d) => {
            let digits = d.trim().trim_start_matches('+');
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad(
                    "destination",
                    "destination is a number in international form, e.g. +37255500000".into(),
                ));
            }
            Some(digits.to_owned())
        }
    };
    let instant = |name: &str, value: Option<&str>| match value {
        None => Ok(None),
        Some(v) => time::parse(v).map(Some).ok_or_else(|| {
            bad(
                name,
                format!("{name} is an RFC 3339 time, e.g. 2026-12-01T10:00:00Z"),
            )
        }),
    };
    let err = match params.err.as_deref() {
        None => None,
        Some(e) => Some(
            e.trim()
                .parse::<u16>()
                .map_err(|_| bad("err", "err is a delivery error code, e.g. 008 or 8".into()))?,
        ),
    };
    let after = match params.cursor.as_deref() {
        None | Some("") => None,
        Some(c) => Some(MessageCursor::decode(c).ok_or_else(|| {
            bad(
                "cursor",
                "cursor is the next_cursor of a previous page".into(),
            )
        })?),
    };
    let limit = match params.limit.as_deref() {
        None => DEFAULT_LIMIT,
        Some(l) => l
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|l| (1..=MAX_LIMIT).contains(l))
            .ok_or_else(|| bad("limit", format!("limit is between 1 and {MAX_LIMIT}")))?,
    };
    Ok(MessageQuery {
        account_id: Some(account_id),
        status,
        destination,
        sender: params.sender,
        accepted_from: instant("since", params.since.as_deref())?,
        accepted_until: instant("until", params.until.as_deref())?,
        err,
        after,
        limit,
    })
}

#[derive(Debug, Serialize)]
struct DetailBody {
    #[serde(flatten)]
    message: MessageBody,
    history: Vec<EventBody>,
}

#[derive(Debug, Serialize)]
struct EventBody {
    at: String,
    /// accepted, due, charge, submit, receipt, status, callback, rule, refund, expired,
    /// cancelled...
    kind: String,
    /// The segment (0-based) a submit or receipt concerns.
    segment: Option<u32>,
    /// The event's facts as recorded: the carrier's answer, the receipt's raw text and TLVs,
    /// the callback URL and the customer's HTTP status...
    detail: serde_json::Value,
}

impl From<Event> for EventBody {
    fn from(event: Event) -> Self {
        EventBody {
            at: time::format(event.at),
            kind: event.kind,
            segment: event.segment,
            detail: event.detail,
        }
    }
}

async fn get_message(
    State(state): State<ApiState>,
    customer: Customer,
    Path(id): Path<String>,
) -> Result<Json<DetailBody>, ApiError> {
    let view = ids::own_message(&state, &customer, &id).await?;
    let history = state.store.history(&view.id).await?;
    Ok(Json(DetailBody {
        message: MessageBody::from(&view),
        history: history.into_iter().map(EventBody::from).collect(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_parameters_become_a_query_of_the_customers_own_messages() {
        let params: ListParams = serde_urlencoded::from_str(
            "status=Delivered&destination=%2B37255500000&since=2026-12-01T10:00:00Z&err=008&limit=5&cursor=m42",
        )
        .unwrap();
        let query = message_query(params, 7).unwrap();
        assert_eq!(query.account_id, Some(7));
        assert_eq!(query.status, Some(Status::Delivered));
        assert_eq!(query.destination.as_deref(), Some("37255500000"));
        assert_eq!(query.accepted_from, Some(1_796_119_200_000));
        assert_eq!(query.err, Some(8));
        assert_eq!(query.limit, 5);
        assert_eq!(query.after, Some(MessageCursor(42)));
    }

    #[test]
    fn bad_list_parameters_name_the_parameter() {
        for (q, source) in [
            ("status=lost", "query[status]"),
            ("destination=abc", "query[destination]"),
            ("since=yesterday", "query[since]"),
            ("err=x", "query[err]"),
            ("cursor=42", "query[cursor]"),
            ("limit=0", "query[limit]"),
        ] {
            let params: ListParams = serde_urlencoded::from_str(q).unwrap();
            let e = message_query(params, 1).unwrap_err();
            assert_eq!(e.errors[0].code, "105", "{q}");
            assert_eq!(e.errors[0].source.as_deref(), Some(source), "{q}");
        }
        assert!(serde_urlencoded::from_str::<ListParams>("stauts=sent").is_err());
    }
}
