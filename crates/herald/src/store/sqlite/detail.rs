//! The `detail` objects of the history lines every message writes (accepted, charge, submit,
//! status, receipt, callback), as typed values serialised straight to text.
//!
//! Building a `serde_json::Value` first cost a map, a string per key and a second pass per
//! event, on the writer thread that bounds throughput. The fields are declared in alphabetical
//! order so the text is the same as that of the `json!` objects it replaced (serde_json sorts
//! their keys), for histories written before and after.

use serde::Serialize;

use crate::domain::Report;
use crate::store::Millis;

/// `accepted`: what Herald took on.
#[derive(Serialize)]
pub(super) struct Accepted<'a> {
    pub carrier: Option<&'a str>,
    pub not_before: Millis,
    pub priority: &'a str,
    pub segments: usize,
    pub valid_until: Millis,
}

/// `charge`: what the message cost its account when first claimed.
#[derive(Serialize)]
pub(super) struct Charge {
    pub amount_micros: i64,
}

/// `submit` when the carrier took the segment.
#[derive(Serialize)]
pub(super) struct SubmitAccepted<'a> {
    pub carrier: &'a str,
    pub carrier_message_id: &'a str,
    pub outcome: &'static str,
}

/// `status`: the report a status change announced.
#[derive(Serialize)]
pub(super) struct Status<'a> {
    pub dlr_mask: u8,
    pub err: String,
    pub stat: &'a str,
    pub status: &'a str,
}

impl<'a> Status<'a> {
    pub(super) fn of(report: &'a Report) -> Self {
        Self {
            dlr_mask: report.dlr_mask,
            err: report.err.to_string(),
            stat: report.stat.as_str(),
            status: report.status.as_str(),
        }
    }
}

/// `receipt`: the receipt as the carrier sent it and how it was matched.
#[derive(Serialize)]
pub(super) struct Receipt<'a> {
    pub carrier_err: Option<&'a str>,
    pub carrier_message_id: &'a str,
    pub matched_by: &'static str,
    pub outcome: &'a str,
    pub raw_text: &'a str,
    pub receipt_id: i64,
    pub received_at: Millis,
    pub stat_word: Option<&'a str>,
    pub tlvs: &'a serde_json::Value,
}

/// `callback`: one attempt to tell the customer.
#[derive(Serialize)]
pub(super) struct CallbackAttempt<'a> {
    pub callback_id: i64,
    pub duration_ms: i64,
    pub error: Option<&'a str>,
    pub format: &'a str,
    pub http_status: Option<u16>,
    pub next: &'static str,
    pub retry_at: Option<Millis>,
    pub status: &'a str,
    pub url: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::domain::Report;

    /// Each typed detail writes exactly the text the `json!` object it replaced wrote.
    #[test]
    fn typed_details_write_the_same_text_as_the_json_objects_they_replaced() {
        let tlvs = json!([{ "tag": 1063, "value": "2" }]);
        let report = Report::accepted_by_carrier();
        let pairs = [
            (
                serde_json::to_string(&Accepted {
                    carrier: Some("sim"),
                    not_before: 5,
                    priority: "regular",
                    segments: 2,
                    valid_until: 9,
                })
                .unwrap(),
                json!({ "segments": 2, "carrier": "sim", "not_before": 5, "valid_until": 9,
                        "priority": "regular" }),
            ),
            (
                serde_json::to_string(&Charge {
                    amount_micros: 35_000,
                })
                .unwrap(),
                json!({ "amount_micros": 35_000 }),
            ),
            (
                serde_json::to_string(&SubmitAccepted {
                    carrier: "sim",
                    carrier_message_id: "abc",
                    outcome: "accepted",
                })
                .unwrap(),
                json!({ "carrier": "sim", "outcome": "accepted", "carrier_message_id": "abc" }),
            ),
            (
                serde_json::to_string(&Status::of(&report)).unwrap(),
                json!({ "status": report.status.as_str(), "stat": report.stat.as_str(),
                        "dlr_mask": report.dlr_mask, "err": report.err.to_string() }),
            ),
            (
                serde_json::to_string(&Receipt {
                    carrier_err: None,
                    carrier_message_id: "abc",
                    matched_by: "exact",
                    outcome: "delivered",
                    raw_text: "id:abc stat:DELIVRD \"quoted\"",
                    receipt_id: 3,
                    received_at: 7,
                    stat_word: Some("DELIVRD"),
                    tlvs: &tlvs,
                })
                .unwrap(),
                json!({ "receipt_id": 3, "carrier_message_id": "abc", "matched_by": "exact",
                        "outcome": "delivered", "stat_word": "DELIVRD", "carrier_err": null,
                        "raw_text": "id:abc stat:DELIVRD \"quoted\"", "tlvs": tlvs,
                        "received_at": 7 }),
            ),
            (
                serde_json::to_string(&CallbackAttempt {
                    callback_id: 4,
                    duration_ms: 12,
                    error: None,
                    format: "query",
                    http_status: Some(200),
                    next: "done",
                    retry_at: None,
                    status: "DELIVERED",
                    url: "http://example.com/dlr?a=1",
                    webhook_id: None,
                })
                .unwrap(),
                json!({ "callback_id": 4, "url": "http://example.com/dlr?a=1",
                        "http_status": 200, "error": null, "duration_ms": 12, "next": "done",
                        "retry_at": null, "status": "DELIVERED", "format": "query" }),
            ),
            (
                serde_json::to_string(&CallbackAttempt {
                    callback_id: 4,
                    duration_ms: 12,
                    error: Some("timed out"),
                    format: "json",
                    http_status: None,
                    next: "retry",
                    retry_at: Some(99),
                    status: "SENT",
                    url: "http://example.com/hook",
                    webhook_id: Some("msg_1".into()),
                })
                .unwrap(),
                json!({ "callback_id": 4, "url": "http://example.com/hook",
                        "http_status": null, "error": "timed out", "duration_ms": 12,
                        "next": "retry", "retry_at": 99, "status": "SENT", "format": "json",
                        "webhook_id": "msg_1" }),
            ),
        ];
        for (typed, object) in pairs {
            assert_eq!(typed, object.to_string());
        }
    }
}
