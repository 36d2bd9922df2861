//! The one error shape of `/v1` (api.md §2): `{ "errors": [ { "title", "detail", "code",
//! "source" } ] }` with a string `code`, whatever went wrong: bad JSON, a missing or malformed
//! field, wrong credentials, an unknown id, a wrong method or path, a body too big, a store
//! failure. Handlers return [`ApiError`]; nothing in `/v1` answers an error any other way.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// The documented error codes, as the published clients expect them (strings on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// "101": the resource does not exist (or is another account's).
    NotFound,
    /// "102": the credentials are right but this is not allowed.
    Forbidden,
    /// "103": missing or wrong credentials.
    Unauthorized,
    /// "104": Herald failed; retrying later may succeed.
    Internal,
    /// "105": a value is malformed (or the body is not usable JSON).
    InvalidData,
    /// "106": a required value is absent.
    MissingData,
    /// "107": the path exists but not with this method.
    MethodNotAllowed,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::NotFound => "101",
            ErrorCode::Forbidden => "102",
            ErrorCode::Unauthorized => "103",
            ErrorCode::Internal => "104",
            ErrorCode::InvalidData => "105",
            ErrorCode::MissingData => "106",
            ErrorCode::MethodNotAllowed => "107",
        }
    }

    /// The HTTP status an error of this code goes with, unless a more precise one is set
    /// (e.g. 413 or 415 for [`ErrorCode::InvalidData`]).
    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::Forbidden => StatusCode::FORBIDDEN,
            ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::InvalidData | ErrorCode::MissingData => StatusCode::BAD_REQUEST,
            ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        }
    }

    fn title(self) -> &'static str {
        match self {
            ErrorCode::NotFound => "Not found",
            ErrorCode::Forbidden => "Forbidden",
            ErrorCode::Unauthorized => "Unauthorized",
            ErrorCode::Internal => "Internal Server Error",
            ErrorCode::InvalidData => "Invalid data",
            ErrorCode::MissingData => "Missing data",
            ErrorCode::MethodNotAllowed => "Method not allowed",
        }
    }
}

/// One entry of `errors`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorItem {
    pub title: &'static str,
    pub detail: String,
    /// [`ErrorCode::as_str`].
    pub code: &'static str,
    /// The field at fault, e.g. `payload[to]` or `payload[messages][0][text]`; `null` when the
    /// request as a whole is at fault.
    pub source: Option<String>,
}

impl ErrorItem {
    pub fn new(code: ErrorCode, detail: impl Into<String>, source: Option<String>) -> Self {
        Self {
            title: code.title(),
            detail: detail.into(),
            code: code.as_str(),
            source,
        }
    }
}

/// A `/v1` error answer: an HTTP status and one or more [`ErrorItem`]s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub errors: Vec<ErrorItem>,
}

impl ApiError {
    pub fn new(code: ErrorCode, detail: impl Into<String>, source: Option<String>) -> Self {
        Self {
            status: code.status(),
            errors: vec![ErrorItem::new(code, detail, source)],
        }
    }

    /// The same error under another HTTP status (413, 415...).
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, detail, None)
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, detail, None)
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthorized, detail, None)
    }

    /// A failure of Herald's own: the detail is logged, the client is told only to retry.
    pub fn internal(what: impl std::fmt::Display) -> Self {
        tracing::error!(error = %what, "/v1 request failed");
        Self::new(
            ErrorCode::Internal,
            "Herald could not complete the request; retry later",
            None,
        )
    }

    /// A malformed value at `source` (see [`payload`]).
    pub fn invalid(source: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidData, detail, Some(source.into()))
    }

    /// A required value absent at `source` (see [`payload`]).
    pub fn missing(source: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::MissingData, detail, Some(source.into()))
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            ErrorCode::MethodNotAllowed,
            "This path does not accept that HTTP method",
            None,
        )
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        ApiError::internal(e)
    }
}

/// `payload[a][b]` for the path `["a", "b"]`: how `source` names a field of the request body.
pub fn payload<I, S>(path: I) -> String
where
    I: IntoIterator<Item = S>,
    S: std::fmt::Display,
{
    let mut source = String::from("payload");
    for part in path {
        source.push('[');
        source.push_str(&part.to_string());
        source.push(']');
    }
    source
}

#[derive(Serialize)]
struct Body<'a> {
    errors: &'a [ErrorItem],
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(Body {
                errors: &self.errors,
            }),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            // Clients (and browsers) learn from this which scheme to use.
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"Herald\""),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_its_documented_string_and_status() {
        let table = [
            (ErrorCode::NotFound, "101", 404),
            (ErrorCode::Forbidden, "102", 403),
            (ErrorCode::Unauthorized, "103", 401),
            (ErrorCode::Internal, "104", 500),
            (ErrorCode::InvalidData, "105", 400),
            (ErrorCode::MissingData, "106", 400),
            (ErrorCode::MethodNotAllowed, "107", 405),
        ];
        for (code, text, status) in table {
            assert_eq!(code.as_str(), text);
            assert_eq!(code.status().as_u16(), status);
        }
    }

    #[test]
    fn payload_sources_name_nested_fields_in_brackets() {
        assert_eq!(payload(["to"]), "payload[to]");
        assert_eq!(
            payload(["messages".to_string(), "0".into(), "text".into()]),
            "payload[messages][0][text]"
        );
        assert_eq!(payload(Vec::<String>::new()), "payload");
    }
}
