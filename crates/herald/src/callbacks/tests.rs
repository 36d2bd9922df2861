//! The worker against real HTTP receivers on loopback and the in-memory store.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::*;
use crate::domain::{MessageId, ReceiptOutcome, Report};
use crate::test_support::MemoryStore;

const NOW: Millis = 1_800_000_000_000;

/// An HTTP receiver that records each query string it gets and answers with the scripted
/// statuses in turn (the last one repeating), after `delay`.
#[derive(Clone)]
struct Receiver {
    queries: Arc<Mutex<Vec<String>>>,
    script: Arc<Mutex<VecDeque<u16>>>,
    delay: Duration,
}

impl Receiver {
    async fn start(statuses: &[u16], delay: Duration) -> (Self, String) {
        let receiver = Self {
            queries: Arc::default(),
            script: Arc::new(Mutex::new(statuses.iter().copied().collect())),
            delay,
        };
        let app = axum::Router::new()
            .route("/dlr", axum::routing::get(Self::handle))
            .with_state(receiver.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (receiver, format!("http://127.0.0.1:{port}/dlr"))
    }

    async fn handle(State(r): State<Receiver>, RawQuery(q): RawQuery) -> StatusCode {
        r.queries.lock().unwrap().push(q.unwrap_or_default());
        tokio::time::sleep(r.delay).await;
        let mut script = r.script.lock().unwrap();
        let status = if script.len() > 1 {
            script.pop_front().unwrap()
        } else {
            script[0]
        };
        StatusCode::from_u16(status).unwrap()
    }

    fn queries(&self) -> Vec<String> {
        self.queries.lock().unwrap().clone()
    }
}

fn worker(
    store: &Arc<MemoryStore>,
    allow: &[&str],
    schedule_ms: &[u64],
    timeout: Duration,
) -> CallbackWorker {
    let config = CallbacksConfig {
        allow_networks: allow.iter().map(|n| n.parse().unwrap()).collect(),
        timeout_secs: 1,
        schedule: schedule_ms
            .iter()
            .map(|&ms| Duration::from_millis(ms))
            .collect(),
        concurrency: 8,
    };
    let mut w = CallbackWorker::from_config(store.clone(), &config);
    w.client = CallbackClient::new(w.addresses.clone(), timeout);
    w
}

const LOOPBACK: &[&str] = &["127.0.0.0/8", "::1/128"];

fn id() -> MessageId {
    MessageId::parse("f00d").unwrap()
}

#[tokio::test]
async fn a_callback_carries_the_exact_query_and_a_2xx_acknowledges_it() {
    let (receiver, url) = Receiver::start(&[200], Duration::ZERO).await;
    let store = Arc::new(MemoryStore::default());
    store.push_callback(
        id(),
        &format!("{url}?ref=a%20b"),
        Report::from_receipt(ReceiptOutcome::Delivered),
        NOW,
    );
    let w = worker(&store, LOOPBACK, &[10], Duration::from_secs(1));

    assert_eq!(w.step(NOW).await.unwrap(), 1);

    assert_eq!(
        receiver.queries(),
        vec!["ref=a%20b&sms_unique_id=f00d&status=DELIVERED&stat=DELIVRD&dlr-mask=1&err=000"]
    );
    let attempts = store.attempts();
    assert_eq!(attempts.len(), 1);
    assert_eq!(
        (attempts[0].http_status, attempts[0].next),
        (Some(200), CallbackNext::Done)
    );
    assert!(attempts[0].url.ends_with("&err=000"));
    assert_eq!(
        w.step(NOW + 60_000).await.unwrap(),
        0,
        "an acknowledged callback is not sent again"
    );
}

#[tokio::test]
async fn a_500_is_retried_on_schedule_and_the_next_200_completes_it() {
    let (receiver, url) = Receiver::start(&[500, 200], Duration::ZERO).await;
    let store = Arc::new(MemoryStore::default());
    store.push_callback(id(), &url, Report::accepted_by_carrier(), NOW);
    let w = worker(&store, LOOPBACK, &[10_000], Duration::from_secs(1));

    assert_eq!(w.step(NOW).await.unwrap(), 1);
    let first = &store.attempts()[0];
    assert_eq!(first.http_status, Some(500));
    let CallbackNext::RetryAt(retry_at) = first.next else {
        panic!("expected a retry, got {:?}", first.next);
    };
    assert!(
        (NOW + 8_000..=NOW + 13_000).contains(&retry_at),
        "{}",
        retry_at - NOW
    );

    assert_eq!(w.step(NOW + 5_000).await.unwrap(), 0, "not due yet");
    assert_eq!(w.step(retry_at).await.unwrap(), 1);
    assert_eq!(store.attempts()[1].next, CallbackNext::Done);
    assert_eq!(receiver.queries().len(), 2);
}

#[tokio::test]
async fn a_callback_is_exhausted_when_its_schedule_is_spent() {
    let (receiver, url) = Receiver::start(&[503], Duration::ZERO).await;
    let store = Arc::new(MemoryStore::default());
    store.push_callback(id(), &url, Report::expired(), NOW);
    let w = worker(&store, LOOPBACK, &[10], Duration::from_secs(1));

    w.step(NOW).await.unwrap();
    w.step(NOW + 1_000).await.unwrap();
    let nexts: Vec<_> = store.attempts().iter().map(|a| a.next).collect();
    assert!(
        matches!(
            nexts[..],
            [CallbackNext::RetryAt(_), CallbackNext::Exhausted]
        ),
        "{nexts:?}"
    );
    assert_eq!(w.step(NOW + 100_000).await.unwrap(), 0);
    assert_eq!(receiver.queries().len(), 2);
    assert_eq!(
        store.callbacks()[0].state,
        CallbackNext::Exhausted,
        "kept, visible"
    );
}

#[tokio::test]
async fn a_loopback_target_outside_allow_networks_is_refused_and_retried_later() {
    let (receiver, url) = Receiver::start(&[200], Duration::ZERO).await;
    let by_name = url.replace("127.0.0.1", "localhost");
    let store = Arc::new(MemoryStore::default());
    store.push_callback(id(), &url, Report::accepted_by_carrier(), NOW);
    store.push_callback(
        MessageId::parse("beef").unwrap(),
        &by_name,
        Report::accepted_by_carrier(),
        NOW,
    );
    let w = worker(&store, &[], &[10_000], Duration::from_secs(1));

    assert_eq!(w.step(NOW).await.unwrap(), 2);

    assert!(
        receiver.queries().is_empty(),
        "the receiver must never be reached"
    );
    for a in store.attempts() {
        assert_eq!(a.http_status, None);
        let error = a.error.unwrap();
        assert!(error.contains("non-public address"), "{error}");
        assert!(matches!(a.next, CallbackNext::RetryAt(_)));
    }
}

#[tokio::test]
async fn a_url_that_can_never_work_is_exhausted_at_once() {
    let store = Arc::new(MemoryStore::default());
    store.push_callback(
        id(),
        "ftp://example.com/dlr",
        Report::accepted_by_carrier(),
        NOW,
    );
    let w = worker(&store, LOOPBACK, &[10, 20], Duration::from_secs(1));
    w.step(NOW).await.unwrap();
    let a = &store.attempts()[0];
    assert_eq!(a.next, CallbackNext::Exhausted);
    assert!(a.error.as_deref().unwrap().contains("invalid callback URL"));
}

#[tokio::test]
async fn a_receiver_slower_than_the_timeout_counts_as_a_failed_attempt() {
    let (_receiver, url) = Receiver::start(&[200], Duration::from_secs(3)).await;
    let store = Arc::new(MemoryStore::default());
    store.push_callback(id(), &url, Report::accepted_by_carrier(), NOW);
    let w = worker(&store, LOOPBACK, &[10_000], Duration::from_millis(200));
    w.step(NOW).await.unwrap();
    let a = &store.attempts()[0];
    assert_eq!(a.http_status, None);
    let error = a.error.as_deref().unwrap();
    assert!(error.contains("no answer within 200 ms"), "{error}");
    assert!(matches!(a.next, CallbackNext::RetryAt(_)));
}

/// An `https` dlr-url is spoken to over TLS: a plain-HTTP receiver behind it answers the TLS
/// handshake with an HTTP error page, so the attempt fails before any request is made.
#[tokio::test]
async fn an_https_url_is_requested_over_tls() {
    let (receiver, url) = Receiver::start(&[200], Duration::ZERO).await;
    let store = Arc::new(MemoryStore::default());
    let url = url.replace("http://", "https://");
    store.push_callback(id(), &url, Report::accepted_by_carrier(), NOW);
    let w = worker(&store, LOOPBACK, &[10_000], Duration::from_secs(1));
    w.step(NOW).await.unwrap();
    let a = &store.attempts()[0];
    assert_eq!(a.http_status, None);
    let error = a.error.as_deref().unwrap();
    // rustls's words for a handshake answered with plain text.
    assert!(
        error.contains("(Connect)") && error.contains("corrupt message"),
        "{error}"
    );
    assert!(matches!(a.next, CallbackNext::RetryAt(_)));
    assert!(receiver.queries().is_empty());
}

#[tokio::test]
async fn run_delivers_due_callbacks_and_stops_on_shutdown() {
    let (receiver, url) = Receiver::start(&[200], Duration::ZERO).await;
    let store = Arc::new(MemoryStore::default());
    let w = worker(&store, LOOPBACK, &[10], Duration::from_secs(1));
    let (wake, shutdown) = (Arc::new(Notify::new()), CancellationToken::new());
    let task = tokio::spawn(w.run(wake.clone(), shutdown.clone()));

    store.push_callback(id(), &url, Report::accepted_by_carrier(), 0);
    wake.notify_one();
    tokio::time::timeout(Duration::from_secs(3), async {
        while receiver.queries().is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("delivered after the wake");

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(3), task)
        .await
        .expect("stops on shutdown")
        .unwrap();
    assert_eq!(store.attempts()[0].next, CallbackNext::Done);
}

/// A stopping worker attempts the callbacks the store already leased to it and holds for its
/// next claim, as it finishes those in flight, rather than leaving them until their leases run
/// out.
#[tokio::test]
async fn a_stopping_worker_attempts_what_was_handed_to_it() {
    let (receiver, url) = Receiver::start(&[200], Duration::ZERO).await;
    let store = Arc::new(MemoryStore::default());
    let w = worker(&store, LOOPBACK, &[10], Duration::from_secs(1));
    let (wake, shutdown) = (Arc::new(Notify::new()), CancellationToken::new());
    shutdown.cancel();
    store.push_handed_off(id(), &url, Report::accepted_by_carrier());

    tokio::time::timeout(Duration::from_secs(3), w.run(wake, shutdown))
        .await
        .expect("stops");

    assert_eq!(receiver.queries().len(), 1);
    let attempts = store.attempts();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].next, CallbackNext::Done);
}

/// One POST as received: its headers and body.
type Post = (axum::http::HeaderMap, Vec<u8>);

/// A webhook receiver recording each POST, answering `status`.
#[derive(Clone, Default)]
struct PostReceiver {
    posts: Arc<Mutex<Vec<Post>>>,
}

impl PostReceiver {
    async fn start(status: u16) -> (Self, String) {
        let receiver = Self::default();
        let app = axum::Router::new()
            .route(
                "/hook",
                axum::routing::post(
                    move |State(r): State<PostReceiver>,
                          headers: axum::http::HeaderMap,
                          body: axum::body::Bytes| async move {
                        r.posts.lock().unwrap().push((headers, body.to_vec()));
                        StatusCode::from_u16(status).unwrap()
                    },
                ),
            )
            .with_state(receiver.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (receiver, format!("http://127.0.0.1:{port}/hook"))
    }
}

fn webhook_job(secret: &signature::WebhookSecret) -> crate::store::WebhookJob {
    crate::store::WebhookJob {
        id: "msg_f00d_1".into(),
        omnimessage_id: Some("omni".into()),
        destination: "37255500000".into(),
        sender: "Shop".into(),
        part_price: Some("0.05".into()),
        parts_count: 1,
        changed_at: NOW - 1_000,
        secret: secret.clone(),
    }
}

#[tokio::test]
async fn a_json_webhook_is_posted_with_its_body_and_both_signatures() {
    let (receiver, url) = PostReceiver::start(204).await;
    let store = Arc::new(MemoryStore::default());
    let secret = signature::WebhookSecret::generate();
    let report = Report::from_receipt(ReceiptOutcome::Delivered);
    store.push_webhook(id(), &url, report, NOW, webhook_job(&secret));
    let w = worker(&store, LOOPBACK, &[10], Duration::from_secs(1));

    assert_eq!(w.step(NOW).await.unwrap(), 1);

    let posts = receiver.posts.lock().unwrap().clone();
    assert_eq!(posts.len(), 1);
    let (headers, body) = &posts[0];
    let header = |name: &str| headers.get(name).unwrap().to_str().unwrap().to_owned();
    assert_eq!(header("content-type"), "application/json");
    assert_eq!(
        body,
        &webhook::body(&id(), &report, &webhook_job(&secret)),
        "the body as built for the event"
    );
    assert_eq!(
        header("x-messente-signature"),
        secret.messente_signature(body)
    );
    assert_eq!(header("webhook-id"), "msg_f00d_1");
    assert_eq!(header("webhook-timestamp"), (NOW / 1000).to_string());
    assert_eq!(
        header("webhook-signature"),
        secret.standard_signature("msg_f00d_1", NOW / 1000, body)
    );
    let a = &store.attempts()[0];
    assert_eq!((a.http_status, a.next), (Some(204), CallbackNext::Done));
    assert_eq!(a.url, url, "posted to the URL as written");
}

#[tokio::test]
async fn a_3xx_acknowledges_a_webhook_but_not_a_query_callback() {
    let (_posts, hook) = PostReceiver::start(302).await;
    let (_gets, dlr) = Receiver::start(&[302], Duration::ZERO).await;
    let store = Arc::new(MemoryStore::default());
    let secret = signature::WebhookSecret::generate();
    store.push_webhook(
        id(),
        &hook,
        Report::accepted_by_carrier(),
        NOW,
        webhook_job(&secret),
    );
    store.push_callback(
        MessageId::parse("beef").unwrap(),
        &dlr,
        Report::accepted_by_carrier(),
        NOW,
    );
    let w = worker(&store, LOOPBACK, &[10_000], Duration::from_secs(1));

    assert_eq!(w.step(NOW).await.unwrap(), 2);

    let mut nexts: Vec<_> = store
        .attempts()
        .iter()
        .map(|a| (a.job.id, a.http_status, a.next))
        .collect();
    nexts.sort_by_key(|n| n.0);
    assert_eq!(nexts[0], (1, Some(302), CallbackNext::Done));
    assert!(matches!(nexts[1], (2, Some(302), CallbackNext::RetryAt(_))));
}

#[tokio::test]
async fn a_webhook_to_a_loopback_target_outside_allow_networks_is_refused() {
    let (receiver, url) = PostReceiver::start(200).await;
    let store = Arc::new(MemoryStore::default());
    let secret = signature::WebhookSecret::generate();
    store.push_webhook(
        id(),
        &url.replace("127.0.0.1", "localhost"),
        Report::accepted_by_carrier(),
        NOW,
        webhook_job(&secret),
    );
    let w = worker(&store, &[], &[10_000], Duration::from_secs(1));
    w.step(NOW).await.unwrap();
    assert!(receiver.posts.lock().unwrap().is_empty());
    let a = &store.attempts()[0];
    assert!(a.error.as_deref().unwrap().contains("non-public address"));
    assert!(matches!(a.next, CallbackNext::RetryAt(_)));
}
