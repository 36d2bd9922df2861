//! HTTP Basic authentication for `/v1`: the same usernames and passwords as the plain-text API,
//! checked by the same [`crate::accounts::Authenticator`] (and its cache).

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use base64::Engine;

use super::error::ApiError;
use crate::http::ApiState;
use crate::http::client::ClientIp;
use crate::store::Account;

/// A `/v1` request from an authenticated customer. Extracting it rejects with a 401 (code
/// "103") for absent, malformed or wrong credentials, and with a 403 (code "102") when the
/// client's address is not on the account's `allowed_ips`, so handlers start from a known
/// account calling from where it may.
#[derive(Debug, Clone)]
pub struct Customer {
    pub account: Arc<Account>,
}

impl FromRequestParts<ApiState> for Customer {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ApiState,
    ) -> Result<Self, Self::Rejection> {
        let (username, password) = basic_credentials(parts)?;
        let account = match state.auth.verify(&username, &password).await {
            Ok(Some(account)) => account,
            Ok(None) => return Err(ApiError::unauthorized("Wrong username or password")),
            Err(e) => return Err(ApiError::internal(e)),
        };
        // After the password, as on the plain-text API: a stranger learns nothing of the list.
        state
            .allow_lists
            .check(&account, ClientIp::of(&parts.extensions))
            .map_err(|_| {
                ApiError::forbidden("This account may not be used from this client address")
            })?;
        Ok(Customer { account })
    }
}

/// Username and password of an `Authorization: Basic ...` header.
fn basic_credentials(parts: &Parts) -> Result<(String, String), ApiError> {
    let value = parts
        .headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthorized("HTTP Basic authentication is required"))?;
    let malformed = || ApiError::unauthorized("The Authorization header is not valid HTTP Basic");
    let value = value.to_str().map_err(|_| malformed())?.trim();
    let (scheme, encoded) = value.split_once(' ').ok_or_else(malformed)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(malformed());
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| malformed())?;
    let decoded = String::from_utf8(decoded).map_err(|_| malformed())?;
    // RFC 7617: the user-id cannot contain a colon; the password can.
    let (username, password) = decoded.split_once(':').ok_or_else(malformed)?;
    Ok((username.to_owned(), password.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(authorization: Option<&str>) -> Parts {
        let mut builder = axum::http::Request::builder().uri("/v1/messages");
        if let Some(value) = authorization {
            builder = builder.header(header::AUTHORIZATION, value);
        }
        builder.body(()).unwrap().into_parts().0
    }

    #[test]
    fn basic_credentials_split_at_the_first_colon() {
        // "demo:pa:ss"
        let parts = parts(Some("Basic ZGVtbzpwYTpzcw=="));
        assert_eq!(
            basic_credentials(&parts).unwrap(),
            ("demo".to_owned(), "pa:ss".to_owned())
        );
        let parts2 = super::tests::parts(Some("basic   ZGVtbzpwYTpzcw=="));
        assert!(basic_credentials(&parts2).is_ok());
    }

    #[test]
    fn absent_or_malformed_credentials_are_unauthorized() {
        for header in [
            None,
            Some("Bearer abc"),
            Some("Basic !!!"),
            Some("Basic ZGVtbw=="),
        ] {
            let error = basic_credentials(&parts(header)).unwrap_err();
            assert_eq!(error.status.as_u16(), 401, "{header:?}");
            assert_eq!(error.errors[0].code, "103");
        }
    }
}
