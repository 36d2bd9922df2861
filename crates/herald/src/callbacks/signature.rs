//! Signing JSON webhooks with the account's secret, two ways at once so a receiver can use
//! whichever it already knows:
//!
//! - `X-Messente-Signature`: the hex HMAC-SHA256 of the raw body, keyed with the secret exactly
//!   as the customer sees it (the whole `whsec_...` string), as the seed platform documents
//!   `HMAC_SHA256("$secret", "$http_request_body")`.
//! - Standard Webhooks (standardwebhooks.com): `webhook-id`, `webhook-timestamp` (Unix
//!   seconds of the attempt) and `webhook-signature: v1,<base64 HMAC-SHA256>` of
//!   `"{id}.{timestamp}.{body}"`, keyed with the base64-decoded part of the secret after
//!   `whsec_`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

const PREFIX: &str = "whsec_";
/// Generated secrets: 32 random bytes, as the spec recommends (it allows 24 to 64).
const GENERATED_BYTES: usize = 32;
const MIN_BYTES: usize = 24;
const MAX_BYTES: usize = 64;

/// An account's webhook secret: `whsec_` followed by the base64 of 24 to 64 bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret {
    text: String,
    key: Vec<u8>,
}

impl std::fmt::Debug for WebhookSecret {
    /// Never prints the secret itself (it ends up in logs otherwise).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(..)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("a webhook secret starts with `whsec_`")]
    Prefix,
    #[error("the part after `whsec_` is not base64: {0}")]
    Base64(String),
    #[error("a webhook secret holds {MIN_BYTES} to {MAX_BYTES} bytes, this one {0}")]
    Length(usize),
}

impl WebhookSecret {
    /// A new random secret.
    pub fn generate() -> Self {
        let bytes: [u8; GENERATED_BYTES] = rand::random();
        Self::from_key(bytes.to_vec())
    }

    fn from_key(key: Vec<u8>) -> Self {
        Self {
            text: format!("{PREFIX}{}", STANDARD.encode(&key)),
            key,
        }
    }

    /// Reads a secret as configured or stored.
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let encoded = text.strip_prefix(PREFIX).ok_or(SecretError::Prefix)?;
        let key = STANDARD
            .decode(encoded)
            .map_err(|e| SecretError::Base64(e.to_string()))?;
        if !(MIN_BYTES..=MAX_BYTES).contains(&key.len()) {
            return Err(SecretError::Length(key.len()));
        }
        Ok(Self {
            text: text.to_owned(),
            key,
        })
    }

    /// The secret as the customer copies it (`whsec_...`).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// `X-Messente-Signature`: lowercase hex HMAC-SHA256 of `body`, keyed with the whole secret
    /// string.
    pub fn messente_signature(&self, body: &[u8]) -> String {
        let mut mac = hmac(self.text.as_bytes());
        mac.update(body);
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// `webhook-signature`: `v1,` and the base64 HMAC-SHA256 of `"{id}.{timestamp}.{body}"`,
    /// keyed with the decoded secret.
    pub fn standard_signature(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut mac = hmac(&self.key);
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

fn hmac(key: &[u8]) -> Hmac<Sha256> {
    <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes a key of any length")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const BODY: &[u8] = br#"{"test": 2432232314}"#;

    /// The example of the Standard Webhooks reference libraries.
    #[test]
    fn the_standard_signature_matches_the_specification_example() {
        let secret = WebhookSecret::parse(SPEC_SECRET).unwrap();
        assert_eq!(
            secret.standard_signature("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, BODY),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    /// Python's `hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()` on the same input.
    #[test]
    fn the_messente_signature_is_the_hex_hmac_of_the_body_keyed_with_the_secret_string() {
        let secret = WebhookSecret::parse(SPEC_SECRET).unwrap();
        assert_eq!(
            secret.messente_signature(BODY),
            "80ec8a89ce3cd22133a1066caecb4d04fea7467657c8514d717ec42c38a5c94c"
        );
        assert_ne!(
            secret.messente_signature(br#"{"test": 2432232315}"#),
            secret.messente_signature(BODY),
            "a changed body changes the signature"
        );
    }

    #[test]
    fn a_generated_secret_parses_back_and_differs_every_time() {
        let a = WebhookSecret::generate();
        let b = WebhookSecret::generate();
        assert_ne!(a, b);
        assert!(a.as_str().starts_with("whsec_"));
        assert_eq!(WebhookSecret::parse(a.as_str()).unwrap(), a);
        assert_eq!(format!("{a:?}"), "WebhookSecret(..)");
    }

    #[test]
    fn a_malformed_secret_is_refused_with_the_reason() {
        assert_eq!(
            WebhookSecret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            Err(SecretError::Prefix)
        );
        assert!(matches!(
            WebhookSecret::parse("whsec_not base64!"),
            Err(SecretError::Base64(_))
        ));
        assert_eq!(
            WebhookSecret::parse("whsec_c2hvcnQ="),
            Err(SecretError::Length(5))
        );
    }
}
