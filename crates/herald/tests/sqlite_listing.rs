//! `Store::list_messages` (the `/v1/messages` listing and the dashboard) and the priority claim
//! order, on real SQLite, each test on its own database file.

use std::collections::HashSet;
use std::time::Duration;

use herald::domain::{ErrCode, MessageId, Report, Status};
use herald::store::sqlite::SqliteStore;
use herald::store::{
    AccountRecord, MessageCursor, MessageQuery, Millis, NewMessage, NewSegment, Priority, Store,
};
use tempfile::TempDir;

const T0: Millis = 1_700_000_000_000;
const CARRIER: &str = "acme";

struct Fixture {
    _dir: TempDir,
    store: SqliteStore,
    shop: i64,
    bank: i64,
}

impl Fixture {
    async fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("herald.db").display());
        let store = SqliteStore::open(&url).await.expect("open store");
        let mut ids = Vec::new();
        for name in ["shop", "bank"] {
            let account = store
                .upsert_account(AccountRecord {
                    username: name.into(),
                    password_hash: "$argon2id$v=19$m=16,t=2,p=1$c2FsdHNhbHQ$aGFzaA".into(),
                    balance: "100.00".into(),
                    senders: vec!["Shop".into()],
                    dlr_url: None,
                })
                .await
                .expect("account");
            ids.push(account.id);
        }
        Self {
            _dir: dir,
            store,
            shop: ids[0],
            bank: ids[1],
        }
    }
}

fn message(account_id: i64, destination: &str, accepted_at: Millis) -> NewMessage {
    NewMessage {
        id: MessageId::generate(),
        account_id,
        destination: destination.into(),
        sender: "Shop".into(),
        text: Some("hi".into()),
        text_store: Default::default(),
        dlr_url: None,
        callback_format: Default::default(),
        omnimessage_id: None,
        carrier: Some(CARRIER.into()),
        price: Some("0.05".into()),
        validity: Duration::from_secs(3600),
        not_before: accepted_at,
        segments: vec![NewSegment {
            seq: 0,
            data_coding: 0,
            esm_class: 0,
            payload: b"hi".to_vec(),
        }],
        rejection: None,
        accepted_at,
        priority: Priority::Regular,
    }
}

fn query(account_id: Option<i64>) -> MessageQuery {
    MessageQuery {
        account_id,
        limit: 100,
        ..Default::default()
    }
}

async fn ids(store: &SqliteStore, q: MessageQuery) -> Vec<MessageId> {
    let page = store.list_messages(q).await.unwrap();
    page.messages.into_iter().map(|m| m.id).collect()
}

#[tokio::test]
async fn listing_filters_by_account_status_destination_sender_time_and_err() {
    let f = Fixture::new().await;
    let queued = message(f.shop, "37255500000", T0);
    let mut blacklisted = message(f.shop, "37255500001", T0 + 1_000);
    blacklisted.rejection = Some(Report::rejected_by_rule(ErrCode::BLACKLISTED));
    let mut other_sender = message(f.shop, "37255500000", T0 + 2_000);
    other_sender.sender = "Other".into();
    let banks = message(f.bank, "37255500000", T0 + 3_000);
    for m in [&queued, &blacklisted, &other_sender, &banks] {
        f.store.accept(m.clone()).await.unwrap();
    }

    // Newest first; one account's own, or every account's for the operator.
    assert_eq!(
        ids(&f.store, query(Some(f.shop))).await,
        [
            other_sender.id.clone(),
            blacklisted.id.clone(),
            queued.id.clone()
        ]
    );
    assert_eq!(ids(&f.store, query(None)).await.len(), 4);

    let by = |edit: &dyn Fn(&mut MessageQuery)| {
        let mut q = query(Some(f.shop));
        edit(&mut q);
        q
    };
    assert_eq!(
        ids(&f.store, by(&|q| q.status = Some(Status::Rejected))).await,
        [blacklisted.id.clone()]
    );
    assert_eq!(
        ids(&f.store, by(&|q| q.err = Some(8))).await,
        [blacklisted.id.clone()]
    );
    assert_eq!(
        ids(
            &f.store,
            by(&|q| q.destination = Some("37255500000".into()))
        )
        .await,
        [other_sender.id.clone(), queued.id.clone()]
    );
    assert_eq!(
        ids(&f.store, by(&|q| q.sender = Some("Other".into()))).await,
        [other_sender.id.clone()]
    );
    assert_eq!(
        ids(
            &f.store,
            by(&|q| {
                q.accepted_from = Some(T0 + 1_000);
                q.accepted_until = Some(T0 + 2_000);
            })
        )
        .await,
        [blacklisted.id.clone()]
    );
    let none = ids(&f.store, by(&|q| q.status = Some(Status::Delivered))).await;
    assert!(none.is_empty());
}

#[tokio::test]
async fn paging_sees_every_message_once_while_new_ones_are_accepted() {
    let f = Fixture::new().await;
    let mut existing = HashSet::new();
    for i in 0..25 {
        let m = message(f.shop, "37255500000", T0 + i);
        existing.insert(m.id.clone());
        f.store.accept(m).await.unwrap();
    }
    let mut seen = Vec::new();
    let mut after: Option<MessageCursor> = None;
    let mut pages = 0;
    loop {
        let page = f
            .store
            .list_messages(MessageQuery {
                after,
                limit: 7,
                ..query(Some(f.shop))
            })
            .await
            .unwrap();
        pages += 1;
        seen.extend(page.messages.iter().map(|m| m.id.clone()));
        // Between pages, new messages arrive, some with an older acceptance time than the page
        // just read (clocks and commit order need not agree).
        for back in [0, 20] {
            let m = message(f.shop, "37255500000", T0 + 10 - back);
            f.store.accept(m).await.unwrap();
        }
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(pages, 4, "25 messages in pages of 7");
    let unique: HashSet<_> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "no message twice");
    assert_eq!(
        unique, existing,
        "every message that existed, and only those"
    );
}

#[tokio::test]
async fn high_priority_segments_are_claimed_before_regular_and_low() {
    let f = Fixture::new().await;
    let mut accepted = Vec::new();
    // Oldest first: low, regular, high, then another low and high.
    for (i, priority) in [
        Priority::Low,
        Priority::Regular,
        Priority::High,
        Priority::Low,
        Priority::High,
    ]
    .into_iter()
    .enumerate()
    {
        let mut m = message(f.shop, "37255500000", T0 + i as Millis);
        m.priority = priority;
        accepted.push((m.id.clone(), priority));
        f.store.accept(m).await.unwrap();
    }
    let mut order = Vec::new();
    // One at a time, as a submitter with a window of one would.
    for _ in 0..5 {
        let jobs = f
            .store
            .claim_submissions(CARRIER, T0 + 10, 1, Duration::from_secs(30))
            .await
            .unwrap();
        order.extend(jobs.into_iter().map(|j| j.message_id));
    }
    let expected: Vec<MessageId> = [2, 4, 1, 0, 3]
        .into_iter()
        .map(|i| accepted[i].0.clone())
        .collect();
    assert_eq!(order, expected);
    let view = f.store.message(&accepted[2].0).await.unwrap().unwrap();
    assert_eq!(view.priority, Priority::High);
}

#[tokio::test]
async fn a_scheduled_message_records_once_when_its_time_came() {
    let f = Fixture::new().await;
    let mut m = message(f.shop, "37255500000", T0);
    m.not_before = T0 + 60_000;
    m.segments.push(NewSegment {
        seq: 1,
        data_coding: 0,
        esm_class: 0x40,
        payload: b"second".to_vec(),
    });
    f.store.accept(m.clone()).await.unwrap();
    let jobs = f
        .store
        .claim_submissions(CARRIER, T0 + 60_000, 10, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(jobs.len(), 2);
    let history = f.store.history(&m.id).await.unwrap();
    let due: Vec<_> = history.iter().filter(|e| e.kind == "due").collect();
    assert_eq!(due.len(), 1, "{history:?}");
    assert_eq!(due[0].at, T0 + 60_000);

    // A message sent at once never was scheduled: no such line.
    let now = message(f.shop, "37255500000", T0);
    f.store.accept(now.clone()).await.unwrap();
    f.store
        .claim_submissions(CARRIER, T0 + 60_000, 10, Duration::from_secs(30))
        .await
        .unwrap();
    let history = f.store.history(&now.id).await.unwrap();
    assert!(history.iter().all(|e| e.kind != "due"), "{history:?}");
}
