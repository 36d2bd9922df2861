//! The SQLite store's part of JSON webhooks: the callback format and omnimessage a message was
//! accepted with, and the account's webhook secret, each test on its own database file.

use std::time::Duration;

use herald::callbacks::signature::WebhookSecret;
use herald::domain::{ErrCode, MessageId, Report};
use herald::store::sqlite::SqliteStore;
use herald::store::{
    AccountRecord, CallbackAttempt, CallbackFormat, CallbackNext, Millis, NewMessage, NewSegment,
    Store,
};
use tempfile::TempDir;

const T0: Millis = 1_700_000_000_000;

fn url(dir: &TempDir) -> String {
    format!("sqlite://{}", dir.path().join("herald.db").display())
}

async fn account(store: &SqliteStore, username: &str) -> i64 {
    store
        .upsert_account(AccountRecord {
            username: username.into(),
            password_hash: "$argon2id$v=19$m=16,t=2,p=1$c2FsdHNhbHQ$aGFzaA".into(),
            balance: "100.00".into(),
            senders: vec!["Shop".into()],
            dlr_url: None,
        })
        .await
        .expect("account")
        .id
}

fn message(account_id: i64, format: CallbackFormat, omnimessage_id: Option<&str>) -> NewMessage {
    NewMessage {
        id: MessageId::generate(),
        account_id,
        destination: "37255500000".into(),
        sender: "Shop".into(),
        text: Some("hi".into()),
        text_store: Default::default(),
        dlr_url: Some("https://customer.example/hook".into()),
        callback_format: format,
        omnimessage_id: omnimessage_id.map(str::to_owned),
        carrier: Some("acme".into()),
        price: Some("0.05".into()),
        validity: Duration::from_secs(3600),
        not_before: T0,
        segments: vec![NewSegment {
            seq: 0,
            data_coding: 0,
            esm_class: 0,
            payload: b"hi".to_vec(),
        }],
        rejection: None,
        accepted_at: T0,
        priority: Default::default(),
    }
}

#[tokio::test]
async fn the_callback_format_and_omnimessage_are_kept_with_the_message() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&url(&dir)).await.unwrap();
    let account_id = account(&store, "shop").await;
    let json = message(account_id, CallbackFormat::Json, Some("omni-1"));
    let query = message(account_id, CallbackFormat::Query, None);
    store.accept(json.clone()).await.unwrap();
    store.accept(query.clone()).await.unwrap();

    let view = store.message(&json.id).await.unwrap().unwrap();
    assert_eq!(view.callback_format, CallbackFormat::Json);
    assert_eq!(view.omnimessage_id.as_deref(), Some("omni-1"));
    let view = store.message(&query.id).await.unwrap().unwrap();
    assert_eq!(view.callback_format, CallbackFormat::Query);
    assert_eq!(view.omnimessage_id, None);
}

#[tokio::test]
async fn a_webhook_secret_is_generated_once_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&url(&dir)).await.unwrap();
    let shop = account(&store, "shop").await;
    let other = account(&store, "other").await;

    let first = store.webhook_secret(shop).await.unwrap();
    WebhookSecret::parse(&first).expect("a well-formed whsec_ secret");
    assert_eq!(store.webhook_secret(shop).await.unwrap(), first, "kept");
    assert_ne!(
        store.webhook_secret(other).await.unwrap(),
        first,
        "every account has its own"
    );
    drop(store);

    let reopened = SqliteStore::open(&url(&dir)).await.unwrap();
    // Syncing the account from the configuration again does not touch it.
    assert_eq!(account(&reopened, "shop").await, shop);
    assert_eq!(reopened.webhook_secret(shop).await.unwrap(), first);
}

#[tokio::test]
async fn a_configured_webhook_secret_replaces_the_generated_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&url(&dir)).await.unwrap();
    let shop = account(&store, "shop").await;
    let generated = store.webhook_secret(shop).await.unwrap();
    let configured = WebhookSecret::generate();

    store
        .set_webhook_secret(shop, configured.as_str())
        .await
        .unwrap();

    let now = store.webhook_secret(shop).await.unwrap();
    assert_eq!(now, configured.as_str());
    assert_ne!(now, generated);
    assert!(
        store
            .set_webhook_secret(9999, configured.as_str())
            .await
            .is_err(),
        "no such account"
    );
}

#[tokio::test]
async fn a_claimed_json_callback_brings_its_body_facts_and_the_accounts_secret() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&url(&dir)).await.unwrap();
    let shop = account(&store, "shop").await;
    // Refused at acceptance, so its callback is queued at once.
    let mut json = message(shop, CallbackFormat::Json, Some("omni-1"));
    json.rejection = Some(Report::rejected_by_rule(ErrCode::BLACKLISTED));
    let mut query = message(shop, CallbackFormat::Query, None);
    query.rejection = json.rejection;
    store.accept(json.clone()).await.unwrap();
    store.accept(query.clone()).await.unwrap();

    let jobs = store
        .claim_callbacks(T0, 10, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(jobs.len(), 2);
    let json_job = jobs.iter().find(|j| j.message_id == json.id).unwrap();
    let query_job = jobs.iter().find(|j| j.message_id == query.id).unwrap();
    assert_eq!(query_job.webhook, None);
    let webhook = json_job.webhook.clone().expect("a JSON webhook");
    assert_eq!(webhook.omnimessage_id.as_deref(), Some("omni-1"));
    assert_eq!(webhook.destination, "37255500000");
    assert_eq!(webhook.sender, "Shop");
    assert_eq!(webhook.part_price.as_deref(), Some("0.05"));
    assert_eq!(webhook.parts_count, 1);
    assert_eq!(webhook.changed_at, T0);
    assert!(webhook.id.contains(json.id.as_str()));
    // The account had no secret yet: the claim gave it one, the one the store now shows.
    assert_eq!(
        webhook.secret.as_str(),
        store.webhook_secret(shop).await.unwrap()
    );

    store
        .record_callback_attempt(CallbackAttempt {
            job: json_job.attempted(),
            at: T0 + 5,
            url: json_job.url.clone(),
            http_status: Some(204),
            error: None,
            duration_ms: 3,
            next: CallbackNext::Done,
        })
        .await
        .unwrap();
    let history = store.history(&json.id).await.unwrap();
    let attempt = history.iter().find(|e| e.kind == "callback").unwrap();
    assert_eq!(attempt.at, T0 + 5);
    assert_eq!(attempt.detail["format"], "json");
    assert_eq!(attempt.detail["webhook_id"], webhook.id.as_str());
    assert_eq!(attempt.detail["http_status"], 204);
    assert_eq!(attempt.detail["url"], "https://customer.example/hook");
}
