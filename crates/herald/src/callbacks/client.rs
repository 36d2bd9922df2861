//! The HTTP client callbacks are sent with: hyper's pooled HTTP/1.1 client (keep-alive per
//! receiver), rustls with the webpki roots for `https`, the guarded resolver for every name, no
//! redirects followed and no proxy.
//!
//! hyper rather than reqwest: reqwest on top of the same client parsed each callback's URL
//! twice more (once into an `http::Uri`, once back into a `Url` for its redirect policy, which
//! runs even when no redirect is followed), and a callback is sent for every status change of
//! every message. Measured with callgrind on `e2e_bench throughput 2000 64` (ARCHITECTURE.md).

use std::time::Duration;

use bytes::Bytes;
use http::{Request, header};
use http_body_util::Full;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::guard::{AddressPolicy, GuardedResolver};

/// What every callback request says it comes from.
const USER_AGENT: &str = concat!("Herald/", env!("CARGO_PKG_VERSION"));

/// Sends callback requests; cheap to clone (the connection pool is shared).
#[derive(Clone)]
pub struct CallbackClient {
    client: Client<HttpsConnector<HttpConnector<GuardedResolver>>, Full<Bytes>>,
    /// From the first byte sent to the answer's status line, connecting included.
    timeout: Duration,
}

impl CallbackClient {
    pub fn new(policy: AddressPolicy, timeout: Duration) -> Self {
        let mut http = HttpConnector::new_with_resolver(GuardedResolver::new(policy));
        // The TLS layer below takes `https`; this one must let it through.
        http.enforce_http(false);
        // A callback is one small request: sent at once, not held back for more.
        http.set_nodelay(true);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Self {
            client: Client::builder(TokioExecutor::new()).build(https),
            timeout,
        }
    }

    /// Sends `request` and returns the answer's status code, or why there is none (with the
    /// causes: "client error (Connect): callback host x resolves to ..."). The answer's body is
    /// not read: it says nothing Herald acts on.
    pub async fn send(&self, request: Request<Full<Bytes>>) -> Result<u16, String> {
        match tokio::time::timeout(self.timeout, self.client.request(request)).await {
            Ok(Ok(response)) => Ok(response.status().as_u16()),
            Ok(Err(e)) => Err(super::error_chain(&e)),
            Err(_) => Err(format!("no answer within {} ms", self.timeout.as_millis())),
        }
    }
}

/// A GET of `url` (the plain-text API's callback), to give [`CallbackClient::send`].
pub fn get(url: &str) -> Result<Request<Full<Bytes>>, String> {
    request(http::Method::GET, url)
        .body(Full::default())
        .map_err(|e| e.to_string())
}

/// A POST of `body` to `url` as JSON, with `headers` (a webhook), to give
/// [`CallbackClient::send`].
pub fn post_json(
    url: &str,
    headers: impl IntoIterator<Item = (&'static str, String)>,
    body: Vec<u8>,
) -> Result<Request<Full<Bytes>>, String> {
    let mut builder =
        request(http::Method::POST, url).header(header::CONTENT_TYPE, "application/json");
    for (name, value) in headers {
        builder = builder.header(name, value);
    }
    builder
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())
}

fn request(method: http::Method, url: &str) -> http::request::Builder {
    Request::builder()
        .method(method)
        .uri(url)
        .header(header::USER_AGENT, USER_AGENT)
}
