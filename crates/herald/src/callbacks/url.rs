//! The callback URL: the customer's dlr-url with the report's five fields appended to its query
//! (status-model §2). Whatever query the customer put there is kept as written.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use reqwest::Url;

use crate::domain::{MessageId, Report};

/// `url` plus `sms_unique_id`, `status`, `stat`, `dlr-mask`, `err`, percent-encoded, joined with
/// `&` when the URL already has a query.
pub fn callback_url(url: &str, id: &MessageId, report: &Report) -> Result<Url, InvalidUrl> {
    let mut url = target_url(url)?;
    let status = report.status.callback_status().unwrap_or("SENT");
    url.query_pairs_mut()
        .append_pair("sms_unique_id", id.as_str())
        .append_pair("status", status)
        .append_pair("stat", report.stat.as_str())
        .append_pair("dlr-mask", &report.dlr_mask.to_string())
        .append_pair("err", &report.err.to_string());
    Ok(url)
}

/// The stored URL as it is requested: an http(s) URL with a host (JSON webhooks are POSTed to it
/// as written).
pub fn target_url(url: &str) -> Result<Url, InvalidUrl> {
    if url.len() > LONGEST_CACHED_URL {
        return parse_target(url);
    }
    if let Some(parsed) = lock_parsed().get(url) {
        return Ok(parsed.clone());
    }
    let parsed = parse_target(url)?;
    let mut cache = lock_parsed();
    if cache.len() >= CACHED_URLS {
        cache.clear();
    }
    cache.insert(url.into(), parsed.clone());
    Ok(parsed)
}

/// dlr-urls already parsed, by their text. Most accounts send every callback to one URL or a
/// few, and the WHATWG parse is the bulk of building a callback: `e2e_bench throughput` under
/// callgrind spent ~17,000 instructions per message in it, for its two callbacks, besides the
/// one parse that checks the dlr-url when the message is accepted.
static PARSED: LazyLock<Mutex<HashMap<Box<str>, Url>>> = LazyLock::new(Mutex::default);

/// How many parsed URLs are kept: when full, the cache starts again empty (URLs that differ for
/// every message, with a token in the query say, are parsed each time as before).
const CACHED_URLS: usize = 1024;

/// Longer URLs are parsed each time, never kept: a form body may carry a dlr-url of megabytes,
/// and the cache must stay small (at most ~4 MiB, its text and the parsed copy).
const LONGEST_CACHED_URL: usize = 2048;

fn lock_parsed() -> std::sync::MutexGuard<'static, HashMap<Box<str>, Url>> {
    // A panic while the lock was held cannot leave a wrong entry: inserts are whole.
    PARSED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn parse_target(url: &str) -> Result<Url, InvalidUrl> {
    let url = Url::parse(url).map_err(|e| InvalidUrl(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(InvalidUrl(format!(
            "{} is not an http(s) URL with a host",
            url.scheme()
        )));
    }
    Ok(url)
}

/// The stored dlr-url cannot be requested at all: it will never work, so it is not retried.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid callback URL: {0}")]
pub struct InvalidUrl(pub String);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ReceiptOutcome, Report};

    fn id() -> MessageId {
        MessageId::parse("abc123").unwrap()
    }

    #[test]
    fn the_five_fields_are_appended_as_a_new_query() {
        let r = Report::from_receipt(ReceiptOutcome::Delivered);
        let u = callback_url("https://example.com/dlr", &id(), &r).unwrap();
        assert_eq!(
            u.as_str(),
            "https://example.com/dlr?sms_unique_id=abc123&status=DELIVERED&stat=DELIVRD&dlr-mask=1&err=000"
        );
    }

    #[test]
    fn an_existing_query_is_kept_and_joined_with_an_ampersand() {
        let r = Report::from_receipt(ReceiptOutcome::Undeliverable);
        let u = callback_url("http://example.com/cb?token=a%2Fb&x=1", &id(), &r).unwrap();
        assert_eq!(
            u.as_str(),
            "http://example.com/cb?token=a%2Fb&x=1&sms_unique_id=abc123&status=FAILED&stat=UNDELIV&dlr-mask=2&err=001"
        );
        let u = callback_url("http://example.com/cb?", &id(), &r).unwrap();
        assert_eq!(
            u.query(),
            Some("sms_unique_id=abc123&status=FAILED&stat=UNDELIV&dlr-mask=2&err=001")
        );
    }

    #[test]
    fn a_fragment_stays_after_the_query() {
        let u = callback_url(
            "http://example.com/cb#top",
            &id(),
            &Report::accepted_by_carrier(),
        )
        .unwrap();
        assert_eq!(
            u.as_str(),
            "http://example.com/cb?sms_unique_id=abc123&status=SENT&stat=ACCEPTD&dlr-mask=8&err=000#top"
        );
    }

    #[test]
    fn a_url_parsed_before_gives_the_same_callback_url() {
        let r = Report::from_receipt(ReceiptOutcome::Delivered);
        let dlr_url = "HTTP://Example.COM:80/a/../dlr?k=v";
        let first = callback_url(dlr_url, &id(), &r).unwrap();
        let again = callback_url(dlr_url, &id(), &r).unwrap();
        assert_eq!(first, again);
        assert_eq!(
            again.as_str(),
            "http://example.com/dlr?k=v&sms_unique_id=abc123&status=DELIVERED&stat=DELIVRD&dlr-mask=1&err=000"
        );
        assert_eq!(
            target_url(dlr_url).unwrap().as_str(),
            "http://example.com/dlr?k=v"
        );
        assert!(lock_parsed().contains_key(dlr_url));
    }

    #[test]
    fn a_long_url_is_parsed_each_time_and_never_kept() {
        let long = format!(
            "https://example.com/dlr?token={}",
            "a".repeat(LONGEST_CACHED_URL)
        );
        let r = Report::accepted_by_carrier();
        let u = callback_url(&long, &id(), &r).unwrap();
        assert!(u.as_str().starts_with(&long));
        assert!(
            u.as_str()
                .ends_with("&sms_unique_id=abc123&status=SENT&stat=ACCEPTD&dlr-mask=8&err=000")
        );
        assert!(!lock_parsed().contains_key(long.as_str()));
    }

    #[test]
    fn a_url_that_can_never_work_is_refused() {
        let r = Report::accepted_by_carrier();
        assert!(callback_url("not a url", &id(), &r).is_err());
        assert!(callback_url("ftp://example.com/", &id(), &r).is_err());
        assert!(callback_url("mailto:x@example.com", &id(), &r).is_err());
        // Refusals are not kept: only URLs that can be requested are.
        assert!(!lock_parsed().contains_key("ftp://example.com/"));
    }
}
