//! The JSON delivery-report webhook (api.md §2): the body Herald POSTs to the callback URL of a
//! message accepted with [`crate::store::CallbackFormat::Json`], and its signature headers.
//!
//! The body is built once per attempt from what the store kept of the status change, so every
//! retry of an event carries the same body and the same `webhook-id`; only `webhook-timestamp`
//! (the attempt's time, which receivers check against their clock to refuse replays) and the
//! signatures over it change.

use serde::Serialize;

use super::signature::WebhookSecret;
use crate::domain::{MessageId, Report, Status};
use crate::money::Money;
use crate::store::{Millis, WebhookJob};

pub const MESSENTE_SIGNATURE: &str = "x-messente-signature";
pub const WEBHOOK_ID: &str = "webhook-id";
pub const WEBHOOK_TIMESTAMP: &str = "webhook-timestamp";
pub const WEBHOOK_SIGNATURE: &str = "webhook-signature";

/// The `webhook-id` of one status change of a message: the same on every retry of it, different
/// for every other event (callback ids are never reused, message ids are random).
pub fn webhook_id(message_id: &MessageId, callback_id: i64) -> String {
    format!("msg_{}_{callback_id}", message_id.as_str())
}

#[derive(Debug, Serialize)]
struct DeliveryReport<'a> {
    status: &'static str,
    err: u16,
    error: Option<&'static str>,
    message_id: String,
    omnimessage_id: Option<&'a str>,
    to: String,
    channel: &'static str,
    sender: &'a str,
    timestamp: String,
    price_info: PriceInfo,
}

#[derive(Debug, Serialize)]
struct PriceInfo {
    part_price: String,
    parts_count: u32,
    total_price: String,
}

/// The JSON body of the webhook for `report` of `message_id`.
///
/// `status` is the detailed `stat` (`DELIVRD`, `ACCEPTD`, ...) and `err` its three-digit code
/// as an integer, with `error` its meaning (null for 0). `price_info` is the route's price per
/// part, the parts charged, and what the message costs: nothing once it is Rejected (never
/// charged, or refunded).
pub fn body(message_id: &MessageId, report: &Report, job: &WebhookJob) -> Vec<u8> {
    let part_price = job
        .part_price
        .as_deref()
        .and_then(|p| Money::parse(p).ok())
        .unwrap_or(Money::from_micros(0));
    let total = if report.status == Status::Rejected {
        Money::from_micros(0)
    } else {
        part_price
            .times(job.parts_count)
            .unwrap_or(Money::from_micros(0))
    };
    let to = if job.destination.bytes().all(|b| b.is_ascii_digit()) {
        format!("+{}", job.destination)
    } else {
        // Refused as not a number at all: told back as the customer wrote it.
        job.destination.clone()
    };
    let report_body = DeliveryReport {
        status: report.stat.as_str(),
        err: report.err.0,
        error: report.err.description(),
        // As `/v1` showed it to the client that sent the message.
        message_id: message_id.uuid_form(),
        omnimessage_id: job.omnimessage_id.as_deref(),
        to,
        channel: "sms",
        sender: &job.sender,
        timestamp: iso_timestamp(job.changed_at),
        price_info: PriceInfo {
            part_price: part_price.to_string(),
            parts_count: job.parts_count,
            total_price: total.to_string(),
        },
    };
    serde_json::to_vec(&report_body).expect("a delivery report serialises")
}

/// The signature headers of one attempt sent at `now`.
pub fn headers(
    secret: &WebhookSecret,
    id: &str,
    now: Millis,
    body: &[u8],
) -> [(&'static str, String); 4] {
    let timestamp = now.div_euclid(1000);
    [
        (MESSENTE_SIGNATURE, secret.messente_signature(body)),
        (WEBHOOK_ID, id.to_owned()),
        (WEBHOOK_TIMESTAMP, timestamp.to_string()),
        (
            WEBHOOK_SIGNATURE,
            secret.standard_signature(id, timestamp, body),
        ),
    ]
}

/// UTC, microseconds, no zone: `2026-11-27T08:09:42.389000`, as the seed platform writes it.
pub fn iso_timestamp(at: Millis) -> String {
    let days = at.div_euclid(86_400_000);
    let in_day = at.rem_euclid(86_400_000);
    let (year, month, day) = civil_from_days(days);
    let (h, m, s, ms) = (
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000,
    );
    format!(
        "{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{:06}",
        ms * 1000
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ErrCode, ReceiptOutcome};

    fn job() -> WebhookJob {
        WebhookJob {
            id: "msg_abc123_1".into(),
            omnimessage_id: Some("632c6f3d-49d0-4a8f-9b2e-74023d31e51d".into()),
            destination: "37255500000".into(),
            sender: "Shop".into(),
            part_price: Some("0.05".into()),
            parts_count: 2,
            changed_at: 1_795_766_982_389,
            secret: WebhookSecret::generate(),
        }
    }

    #[test]
    fn timestamps_are_utc_with_microseconds_and_no_zone() {
        assert_eq!(iso_timestamp(0), "1970-01-01T00:00:00.000000");
        assert_eq!(
            iso_timestamp(1_795_766_982_389),
            "2026-11-27T08:09:42.389000"
        );
        assert_eq!(iso_timestamp(951_782_400_000), "2000-02-29T00:00:00.000000");
        assert_eq!(iso_timestamp(-1), "1969-12-31T23:59:59.999000");
    }

    #[test]
    fn the_body_has_the_documented_fields_in_order() {
        let id = MessageId::parse("632c6f3d49d04a8f9b2e74023d31e51d").unwrap();
        let body = body(
            &id,
            &Report::from_receipt(ReceiptOutcome::Delivered),
            &job(),
        );
        assert_eq!(
            String::from_utf8(body).unwrap(),
            r#"{"status":"DELIVRD","err":0,"error":null,"message_id":"632c6f3d-49d0-4a8f-9b2e-74023d31e51d","omnimessage_id":"632c6f3d-49d0-4a8f-9b2e-74023d31e51d","to":"+37255500000","channel":"sms","sender":"Shop","timestamp":"2026-11-27T08:09:42.389000","price_info":{"part_price":"0.05","parts_count":2,"total_price":"0.10"}}"#
        );
    }

    #[test]
    fn a_failure_carries_its_integer_err_and_meaning_and_a_rejection_costs_nothing() {
        let id = MessageId::parse("abc123").unwrap();
        let value = |report: Report| -> serde_json::Value {
            serde_json::from_slice(&body(&id, &report, &job())).unwrap()
        };
        let failed = value(Report::expired());
        assert_eq!(failed["status"], "EXPIRED");
        assert_eq!(failed["err"], 2);
        assert_eq!(failed["error"], "Sending SMS expired in 6 hours");
        assert_eq!(failed["price_info"]["total_price"], "0.10");

        let rejected = value(Report::rejected_by_rule(ErrCode::BLACKLISTED));
        assert_eq!(rejected["status"], "REJECTD");
        assert_eq!(rejected["err"], 8);
        assert_eq!(rejected["price_info"]["total_price"], "0.00");
        assert_eq!(value(Report::temporary_exhausted())["err"], 999);
    }

    #[test]
    fn the_webhook_id_is_stable_for_an_event_and_differs_between_events() {
        let id = MessageId::parse("abc123").unwrap();
        assert_eq!(webhook_id(&id, 7), webhook_id(&id, 7));
        assert_ne!(webhook_id(&id, 7), webhook_id(&id, 8));
    }

    #[test]
    fn the_signature_headers_cover_the_body_and_the_attempt_time() {
        let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        let headers = headers(
            &secret,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330_999,
            body,
        );
        let get = |name| headers.iter().find(|(n, _)| *n == name).unwrap().1.clone();
        assert_eq!(get(WEBHOOK_TIMESTAMP), "1614265330");
        assert_eq!(
            get(WEBHOOK_SIGNATURE),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        assert_eq!(get(MESSENTE_SIGNATURE), secret.messente_signature(body));
    }
}
