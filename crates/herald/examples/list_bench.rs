//! `Store::list_messages` (what `GET /v1/messages` and the dashboard page through) on a SQLite
//! store holding many messages: the first page, filtered pages, and the cost of a page deep in
//! the listing (keyset paging should not grow with depth).
//!
//! ```text
//! cargo run --release -p herald --example list_bench -- [messages]
//! ```
//!
//! Prints figures only; nothing is asserted (machines are shared and noisy).

use std::sync::Arc;
use std::time::{Duration, Instant};

use herald::domain::{ErrCode, MessageId, Report, Status};
use herald::store::sqlite::SqliteStore;
use herald::store::{
    AccountRecord, MessageCursor, MessageQuery, Millis, NewMessage, NewSegment, Priority, Store,
};

const T0: Millis = 1_700_000_000_000;
/// Accepts in flight at once while filling the store (they share commits).
const FILL_CONCURRENCY: usize = 256;
/// Each timed query runs this many times; the figure is the median.
const RUNS: usize = 25;

fn message(account_id: i64, i: usize) -> NewMessage {
    NewMessage {
        id: MessageId::generate(),
        account_id,
        // 100 distinct numbers, so a destination filter matches 1 in 100.
        destination: format!("3725550{:04}", i % 100),
        sender: "Bench".into(),
        text: Some("benchmark message".into()),
        text_store: Default::default(),
        dlr_url: None,
        callback_format: Default::default(),
        omnimessage_id: None,
        carrier: Some("acme".into()),
        price: Some("0.05".into()),
        validity: Duration::from_secs(6 * 3600),
        not_before: T0,
        segments: vec![NewSegment {
            seq: 0,
            data_coding: 0,
            esm_class: 0,
            payload: b"benchmark message".to_vec(),
        }],
        // 1 in 50 refused by a rule, so the err filter has something to find.
        rejection: i
            .is_multiple_of(50)
            .then(|| Report::rejected_by_rule(ErrCode::BLACKLISTED)),
        accepted_at: T0 + i as Millis,
        priority: Priority::Regular,
    }
}

async fn median(store: &SqliteStore, query: &MessageQuery) -> (Duration, usize) {
    let mut times = Vec::with_capacity(RUNS);
    let mut found = 0;
    for _ in 0..RUNS {
        let started = Instant::now();
        let page = store.list_messages(query.clone()).await.expect("a page");
        times.push(started.elapsed());
        found = page.messages.len();
    }
    times.sort();
    (times[RUNS / 2], found)
}

#[tokio::main]
async fn main() {
    let count: usize = std::env::args()
        .nth(1)
        .map(|n| n.parse().expect("a number of messages"))
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let url = format!("sqlite://{}", dir.path().join("herald.db").display());
    let store = Arc::new(SqliteStore::open(&url).await.expect("open"));
    let mut accounts = Vec::new();
    for name in ["shop", "bank"] {
        let account = store
            .upsert_account(AccountRecord {
                username: name.into(),
                password_hash: "$argon2id$v=19$m=16,t=2,p=1$c2FsdHNhbHQ$aGFzaA".into(),
                balance: "1000000.00".into(),
                senders: vec!["Bench".into()],
                dlr_url: None,
            })
            .await
            .expect("account");
        accounts.push(account.id);
    }

    let started = Instant::now();
    let semaphore = Arc::new(tokio::sync::Semaphore::new(FILL_CONCURRENCY));
    let mut tasks = Vec::with_capacity(count);
    for i in 0..count {
        let permit = Arc::clone(&semaphore).acquire_owned().await.unwrap();
        let store = Arc::clone(&store);
        let account = accounts[i % 2];
        tasks.push(tokio::spawn(async move {
            store.accept(message(account, i)).await.expect("accept");
            drop(permit);
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    println!(
        "filled {count} messages (2 accounts) in {:.1?}",
        started.elapsed()
    );

    let shop = accounts[0];
    let base = MessageQuery {
        account_id: Some(shop),
        limit: 100,
        ..Default::default()
    };
    // A cursor near the end of the shop's listing: the deepest page a client reaches.
    let deep = {
        let mut q = base.clone();
        q.limit = (count / 2).saturating_sub(100).max(1) as u32;
        store.list_messages(q).await.unwrap().next
    };
    let cases: Vec<(&str, MessageQuery)> = vec![
        ("first page, one account", base.clone()),
        (
            "first page, every account (operator)",
            MessageQuery {
                account_id: None,
                ..base.clone()
            },
        ),
        (
            "page near the end (keyset cursor)",
            MessageQuery {
                after: deep.or(Some(MessageCursor(1))),
                ..base.clone()
            },
        ),
        (
            "destination filter (1 in 100)",
            MessageQuery {
                destination: Some("37255500042".into()),
                ..base.clone()
            },
        ),
        (
            "status=rejected (1 in 50)",
            MessageQuery {
                status: Some(Status::Rejected),
                ..base.clone()
            },
        ),
        (
            "err=008 (1 in 50)",
            MessageQuery {
                err: Some(8),
                ..base.clone()
            },
        ),
        (
            "time range (last 10%)",
            MessageQuery {
                accepted_from: Some(T0 + (count as Millis * 9 / 10)),
                ..base.clone()
            },
        ),
    ];
    for (name, query) in cases {
        let (time, found) = median(&store, &query).await;
        println!("{name:<40} {found:>4} messages  median {time:.2?}");
    }
}
