//! The plain-text API over real HTTP on loopback, against the in-memory store.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::Notify;

use super::*;
use crate::accounts::{Authenticator, sync_accounts};
use crate::clock::fixed_clock;
use crate::config::AccountConfig;
use crate::domain::{ErrCode, MessageId, ReceiptOutcome, Report, Status};
use crate::routing::Route;
use crate::store::{Millis, Store};
use crate::test_support::MemoryStore;

const NOW: Millis = 1_800_000_000_000;

struct TestApi {
    base: String,
    store: Arc<MemoryStore>,
    submit_wake: Arc<Notify>,
    callback_wake: Arc<Notify>,
    client: reqwest::Client,
}

impl TestApi {
    async fn spawn() -> Self {
        let store = Arc::new(MemoryStore::default());
        let shared: SharedStore = store.clone();
        let account = |username: &str, password: &str| AccountConfig {
            username: username.into(),
            password: password.into(),
            balance: "10.00".into(),
            senders: vec!["Herald".into()],
            dlr_url: String::new(),
            allowed_ips: Vec::new(),
            webhook_secret: None,
        };
        sync_accounts(&shared, &[account("demo", "pw"), account("other", "pw2")])
            .await
            .unwrap();
        let state = ApiState {
            store: shared.clone(),
            routes: Arc::new(Routes::new(vec![Route {
                prefix: "372".into(),
                carrier: "sim".into(),
                price: "0.05".into(),
            }])),
            auth: Arc::new(Authenticator::new(shared)),
            submit_wake: Arc::new(Notify::new()),
            callback_wake: Arc::new(Notify::new()),
            defaults: ApiDefaults::default(),
            clock: fixed_clock(NOW),
            allow_lists: Default::default(),
            metrics: Arc::new(crate::metrics::Metrics::new(Vec::new())),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (submit_wake, callback_wake) = (state.submit_wake.clone(), state.callback_wake.clone());
        tokio::spawn(async move { axum::serve(listener, router(state)).await });
        Self {
            base,
            store,
            submit_wake,
            callback_wake,
            client: reqwest::Client::new(),
        }
    }

    async fn get(&self, path_and_query: &str) -> (u16, String, String) {
        let res = self
            .client
            .get(format!("{}{path_and_query}", self.base))
            .send()
            .await
            .unwrap();
        Self::parts(res).await
    }

    async fn post_form(&self, path_and_query: &str, body: &str) -> (u16, String, String) {
        let res = self
            .client
            .post(format!("{}{path_and_query}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        Self::parts(res).await
    }

    async fn parts(res: reqwest::Response) -> (u16, String, String) {
        let status = res.status().as_u16();
        let ct = res
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (status, ct, res.text().await.unwrap())
    }

    async fn send(&self, params: &str) -> String {
        self.get(&format!("/send_sms?username=demo&password=pw&{params}"))
            .await
            .2
    }
}

fn id_of(answer: &str) -> MessageId {
    let token = answer
        .strip_prefix("OK ")
        .unwrap_or_else(|| panic!("expected OK, got {answer:?}"));
    MessageId::parse(token).expect("an opaque alphanumeric id")
}

#[tokio::test]
async fn send_sms_stores_the_message_before_answering_ok_with_its_id() {
    let api = TestApi::spawn().await;
    let (status, ct, body) = api
        .get("/send_sms?username=demo&password=pw&to=%2B37255555555&text=Hello")
        .await;
    assert_eq!((status, ct.as_str()), (200, "text/html; charset=UTF-8"));
    let id = id_of(&body);
    let stored = api.store.accepted();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].id, id);
    assert_eq!(stored[0].destination, "37255555555");
    assert_eq!(stored[0].sender, "Herald");
    assert_eq!(stored[0].carrier.as_deref(), Some("sim"));
    assert_eq!(stored[0].accepted_at, NOW);
}

#[tokio::test]
async fn get_post_and_a_trailing_slash_all_reach_send_sms() {
    let api = TestApi::spawn().await;
    for answer in [
        api.get("/send_sms/?username=demo&password=pw&to=372555&text=a")
            .await
            .2,
        api.post_form("/send_sms", "username=demo&password=pw&to=372555&text=b")
            .await
            .2,
        api.post_form("/send_sms/?username=demo", "password=pw&to=372555&text=c")
            .await
            .2,
    ] {
        id_of(&answer);
    }
    let texts: Vec<_> = api
        .store
        .accepted()
        .into_iter()
        .filter_map(|m| m.text)
        .collect();
    assert_eq!(texts, vec!["a", "b", "c"]);
}

#[tokio::test]
async fn a_body_parameter_wins_over_the_same_query_parameter() {
    let api = TestApi::spawn().await;
    let (_, _, body) = api
        .post_form(
            "/send_sms?username=demo&password=pw&to=372555&text=query",
            "text=body",
        )
        .await;
    id_of(&body);
    assert_eq!(api.store.accepted()[0].text.as_deref(), Some("body"));
}

#[tokio::test]
async fn bad_or_missing_credentials_answer_error_101() {
    let api = TestApi::spawn().await;
    assert_eq!(
        api.get("/send_sms?username=demo&password=nope&to=372555&text=a")
            .await
            .2,
        "ERROR 101"
    );
    assert_eq!(api.get("/send_sms?to=372555&text=a").await.2, "ERROR 101");
    assert_eq!(
        api.get("/get_dlr_response?username=x&password=pw&sms_unique_id=abc")
            .await
            .2,
        "ERROR 101"
    );
    assert!(api.store.accepted().is_empty());
}

#[tokio::test]
async fn a_missing_or_malformed_parameter_answers_error_102() {
    let api = TestApi::spawn().await;
    assert_eq!(api.send("text=hi").await, "ERROR 102");
    assert_eq!(api.send("to=372555").await, "ERROR 102");
    assert_eq!(
        api.send("to=372555&text=hi&validity=soon").await,
        "ERROR 102"
    );
    assert!(api.store.accepted().is_empty());
}

#[tokio::test]
async fn an_impossible_number_is_accepted_and_then_rejected_with_err_005() {
    let api = TestApi::spawn().await;
    let id = id_of(&api.send("to=not-a-number&text=hi").await);
    let view = api.store.message(&id).await.unwrap().unwrap();
    assert_eq!(view.status, Status::Rejected);
    assert_eq!(view.report.unwrap().err, ErrCode::NO_ROUTE);
    assert_eq!(
        api.get(&format!(
            "/get_dlr_response?username=demo&password=pw&sms_unique_id={id}"
        ))
        .await
        .2,
        "OK FAILED"
    );
}

#[tokio::test]
async fn a_rejection_wakes_the_callback_worker_and_an_acceptance_the_submitter() {
    let api = TestApi::spawn().await;
    let woken = api.callback_wake.notified();
    id_of(&api.send("to=4915112345&text=hi").await);
    tokio::time::timeout(Duration::from_secs(1), woken)
        .await
        .expect("callback worker woken");
    let woken = api.submit_wake.notified();
    id_of(&api.send("to=372555&text=hi").await);
    tokio::time::timeout(Duration::from_secs(1), woken)
        .await
        .expect("submitter woken");
}

#[tokio::test]
async fn a_store_failure_answers_failed_209() {
    let api = TestApi::spawn().await;
    // Log in once so the credentials come from the cache, then break the store.
    id_of(&api.send("to=372555&text=hi").await);
    api.store.failing.store(true, Ordering::SeqCst);
    assert_eq!(api.send("to=372555&text=again").await, "FAILED 209");
}

#[tokio::test]
async fn get_dlr_response_follows_the_message_from_queued_to_final() {
    let api = TestApi::spawn().await;
    let id = id_of(&api.send("to=372555&text=hi").await);
    let query = format!("/get_dlr_response?username=demo&password=pw&sms_unique_id={id}");
    assert_eq!(api.get(&query).await.2, "FAILED 102");
    api.store.set_report(&id, Report::accepted_by_carrier());
    assert_eq!(api.get(&query).await.2, "OK SENT");
    api.store
        .set_report(&id, Report::from_receipt(ReceiptOutcome::Delivered));
    assert_eq!(api.get(&query).await.2, "OK DELIVERED");
    let (_, ct, body) = api
        .post_form(
            "/get_dlr_response/",
            &format!("username=demo&password=pw&sms_unique_id={id}"),
        )
        .await;
    assert_eq!(
        (ct.as_str(), body.as_str()),
        ("text/html; charset=UTF-8", "OK DELIVERED")
    );
}

#[tokio::test]
async fn get_dlr_response_answers_error_107_for_unknown_and_foreign_ids() {
    let api = TestApi::spawn().await;
    let id = id_of(&api.send("to=372555&text=hi").await);
    let ask = |who: &str, pw: &str, id: &str| {
        format!("/get_dlr_response?username={who}&password={pw}&sms_unique_id={id}")
    };
    assert_eq!(
        api.get(&ask("other", "pw2", id.as_str())).await.2,
        "ERROR 107"
    );
    assert_eq!(api.get(&ask("demo", "pw", "0123abcd")).await.2, "ERROR 107");
    assert_eq!(api.get(&ask("demo", "pw", "bad%27id")).await.2, "ERROR 107");
    assert_eq!(
        api.get("/get_dlr_response?username=demo&password=pw")
            .await
            .2,
        "ERROR 102"
    );
}

#[tokio::test]
async fn cancel_sms_answers_ok_then_error_108_and_error_107_for_foreign_ids() {
    let api = TestApi::spawn().await;
    let id = id_of(&api.send("to=372555&text=hi&time_to_send=4000000000").await);
    let ask = |who: &str, pw: &str, id: &str| {
        format!("/cancel_sms?username={who}&password={pw}&sms_unique_id={id}")
    };
    assert_eq!(
        api.get(&ask("other", "pw2", id.as_str())).await.2,
        "ERROR 107"
    );
    assert_eq!(api.get(&ask("demo", "pw", id.as_str())).await.2, "OK");
    assert_eq!(
        api.get(&ask("demo", "pw", id.as_str())).await.2,
        "ERROR 108"
    );
    assert_eq!(api.get(&ask("demo", "pw", "0123abcd")).await.2, "ERROR 107");
    assert_eq!(
        api.get("/cancel_sms?username=demo&password=pw").await.2,
        "ERROR 102"
    );
    let status = format!("/get_dlr_response?username=demo&password=pw&sms_unique_id={id}");
    assert_eq!(api.get(&status).await.2, "OK FAILED");
}

#[test]
fn a_body_is_read_as_form_parameters_when_it_says_so_in_any_case_or_says_nothing() {
    let with = |value: &[u8]| {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            axum::http::HeaderValue::from_bytes(value).unwrap(),
        );
        body_is_form(&headers)
    };
    assert!(body_is_form(&HeaderMap::new()));
    assert!(with(b"application/x-www-form-urlencoded"));
    assert!(with(b"application/x-www-form-urlencoded; charset=UTF-8"));
    assert!(with(b"  Application/X-WWW-Form-URLEncoded"));
    assert!(!with(b"application/json"));
    assert!(!with(b"text/plain"));
    assert!(!with(b"application/x-www-form"));
    assert!(!with("application/x-www-form-urlencodé".as_bytes()));
}
