//! Request bodies of `/v1`: JSON, typed `application/json`, at most [`BODY_LIMIT`] bytes, turned
//! into a typed value whose every failure is an [`ApiError`] naming the field at fault.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

use super::error::{ApiError, payload};

/// The largest request body `/v1` reads: a bulk request of a few thousand messages.
pub const BODY_LIMIT: usize = 1024 * 1024;

/// A JSON request body (like `axum::Json`, with `/v1` errors).
#[derive(Debug, Clone)]
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers().get(header::CONTENT_TYPE)) {
            return Err(ApiError::invalid(
                "payload",
                "The body must be JSON, sent with Content-Type: application/json",
            )
            .with_status(StatusCode::UNSUPPORTED_MEDIA_TYPE));
        }
        let body = Bytes::from_request(req, state)
            .await
            .map_err(body_rejection)?;
        parse(&body).map(JsonBody)
    }
}

/// Parses a JSON body into `T`; the error's `source` is the path of the field at fault.
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de)
        .map_err(|e| problem(e.inner(), path_of(e.path(), &[])))?;
    // Trailing garbage after the value makes the whole body suspect.
    de.end().map_err(|e| problem(&e, Vec::new()))?;
    Ok(value)
}

/// Turns a part of a body already parsed (`value`, found at `prefix`) into `T`; the error's
/// `source` is the full path of the field at fault.
pub fn from_value<T: DeserializeOwned>(
    value: serde_json::Value,
    prefix: &[String],
) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value)
        .map_err(|e| problem(e.inner(), path_of(e.path(), prefix)))
}

fn path_of(path: &serde_path_to_error::Path, prefix: &[String]) -> Vec<String> {
    let mut full = prefix.to_vec();
    full.extend(path.iter().filter_map(|segment| match segment {
        serde_path_to_error::Segment::Seq { index } => Some(index.to_string()),
        serde_path_to_error::Segment::Map { key } => Some(key.clone()),
        serde_path_to_error::Segment::Enum { variant } => Some(variant.clone()),
        serde_path_to_error::Segment::Unknown => None,
    }));
    full
}

fn problem(inner: &serde_json::Error, mut path: Vec<String>) -> ApiError {
    let message = inner.to_string();
    if inner.is_syntax() || inner.is_eof() {
        return ApiError::invalid("payload", format!("The body is not valid JSON: {message}"));
    }
    // serde reports a missing field at its parent's path; the source names the field.
    if let Some(field) = missing_field(&message) {
        path.push(field.to_owned());
        let source = payload(&path);
        return ApiError::missing(source, format!("{} is required", path.join(".")));
    }
    ApiError::invalid(payload(&path), strip_position(&message))
}

/// `missing field `to`` → `to`.
fn missing_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("missing field `")?;
    rest.split_once('`').map(|(field, _)| field)
}

/// serde_json appends " at line 1 column 17": true, but of no use to an API client.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}

fn is_json(content_type: Option<&header::HeaderValue>) -> bool {
    let Some(Ok(value)) = content_type.map(|v| v.to_str()) else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

fn body_rejection(rejection: BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::invalid(
            "payload",
            format!("The body is larger than {BODY_LIMIT} bytes"),
        )
        .with_status(StatusCode::PAYLOAD_TOO_LARGE)
    } else {
        ApiError::invalid(
            "payload",
            format!("The body could not be read: {rejection}"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Item {
        text: String,
        validity: Option<u32>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Request {
        to: String,
        messages: Vec<Item>,
    }

    #[test]
    fn a_missing_nested_field_is_named_in_the_source() {
        let e = parse::<Request>(br#"{"to":"1","messages":[{"validity":5}]}"#).unwrap_err();
        assert_eq!(e.errors[0].code, "106");
        assert_eq!(
            e.errors[0].source.as_deref(),
            Some("payload[messages][0][text]")
        );
    }

    #[test]
    fn a_wrong_type_is_invalid_data_at_its_field() {
        let e = parse::<Request>(br#"{"to":"1","messages":[{"text":"a","validity":"x"}]}"#)
            .unwrap_err();
        assert_eq!(e.errors[0].code, "105");
        assert_eq!(
            e.errors[0].source.as_deref(),
            Some("payload[messages][0][validity]")
        );
        assert!(
            !e.errors[0].detail.contains("line 1"),
            "{}",
            e.errors[0].detail
        );
    }

    #[test]
    fn broken_json_and_trailing_garbage_are_invalid_payloads() {
        for body in [&br#"{"to":"#[..], br#"{"to":"1","messages":[]} x"#, b""] {
            let e = parse::<Request>(body).unwrap_err();
            assert_eq!(e.errors[0].code, "105");
            assert_eq!(e.errors[0].source.as_deref(), Some("payload"));
        }
    }

    #[test]
    fn json_content_types_are_recognised_with_parameters() {
        let ok = |v: &'static str| is_json(Some(&header::HeaderValue::from_static(v)));
        assert!(ok("application/json"));
        assert!(ok("Application/JSON; charset=utf-8"));
        assert!(ok("application/merge-patch+json"));
        assert!(!ok("text/plain"));
        assert!(!is_json(None));
    }
}
