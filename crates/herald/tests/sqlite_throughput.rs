//! How fast the SQLite store goes, on a real file with `synchronous=FULL`. Prints figures and
//! asserts only correctness: timings depend on the disk.
//!
//! `cargo test --release -p herald --test sqlite_throughput -- --ignored --nocapture`

use std::sync::Arc;
use std::time::{Duration, Instant};

use herald::domain::{MessageId, ReceiptOutcome, Status};
use herald::store::sqlite::SqliteStore;
use herald::store::{
    AccountRecord, CallbackAttempt, CallbackNext, Millis, NewMessage, NewSegment, ReceiptRecord,
    Store, SubmitOutcome, SubmitResult,
};

const MESSAGES: usize = 20_000;
const CALLERS: usize = 256;
const T0: Millis = 1_700_000_000_000;
const LEASE: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread")]
#[ignore = "measures throughput; run on purpose with --release"]
async fn store_throughput() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("herald.db").display());
    let store = Arc::new(SqliteStore::open(&url).await.unwrap());
    let account = store
        .upsert_account(AccountRecord {
            username: "bench".into(),
            password_hash: "x".into(),
            // Claims charge messages: enough for every one of them.
            balance: "1000000000.00".into(),
            senders: vec![],
            dlr_url: None,
        })
        .await
        .unwrap();

    let started = Instant::now();
    let ids = fan_out(MESSAGES, |i| {
        let store = Arc::clone(&store);
        async move {
            let message = message(account.id, i);
            let id = message.id.clone();
            store.accept(message).await.unwrap();
            id
        }
    })
    .await;
    report("accept", MESSAGES, started, &store);

    let started = Instant::now();
    let stats_before = store.commit_stats();
    let mut jobs = Vec::with_capacity(MESSAGES);
    loop {
        let claimed = store
            .claim_submissions("acme", T0, 512, LEASE)
            .await
            .unwrap();
        if claimed.is_empty() {
            break;
        }
        jobs.extend(claimed);
    }
    assert_eq!(jobs.len(), MESSAGES);
    let jobs = Arc::new(jobs);
    fan_out(MESSAGES, |i| {
        let (store, jobs) = (Arc::clone(&store), Arc::clone(&jobs));
        async move {
            let job = &jobs[i];
            let carrier_message_id = format!("{:X}", 0x1000_0000 + i);
            store
                .record_submit(SubmitResult {
                    message_id: job.message_id.clone(),
                    segment: job.segment,
                    carrier: job.carrier.clone(),
                    outcome: SubmitOutcome::Accepted { carrier_message_id },
                    at: T0 + 1,
                })
                .await
                .unwrap();
            store
                .record_receipt(ReceiptRecord {
                    carrier: job.carrier.clone(),
                    carrier_message_id: (0x1000_0000 + i).to_string(),
                    outcome: ReceiptOutcome::Delivered,
                    stat_word: Some("DELIVRD".into()),
                    carrier_err: Some("000".into()),
                    raw_text: "stat:DELIVRD err:000".into(),
                    tlvs: vec![],
                    received_at: T0 + 2,
                })
                .await
                .unwrap();
        }
    })
    .await;
    let mut callbacks = Vec::new();
    loop {
        let claimed = store.claim_callbacks(T0 + 3, 512, LEASE).await.unwrap();
        if claimed.is_empty() {
            break;
        }
        let done = fan_out(claimed.len(), |i| {
            let store = Arc::clone(&store);
            let job = claimed[i].clone();
            async move {
                store
                    .record_callback_attempt(CallbackAttempt {
                        job: job.attempted(),
                        at: T0 + 4,
                        url: job.url.clone(),
                        http_status: Some(200),
                        error: None,
                        duration_ms: 1,
                        next: CallbackNext::Done,
                    })
                    .await
                    .unwrap();
                job.id
            }
        })
        .await;
        callbacks.extend(done);
    }
    // Each message: its claim share, submit, receipt, two callbacks (SENT, DELIVERED) claimed
    // and recorded.
    assert_eq!(callbacks.len(), 2 * MESSAGES);
    let operations = (store.commit_stats().operations - stats_before.operations) as usize;
    report("full cycle (messages)", MESSAGES, started, &store);
    report("full cycle (store operations)", operations, started, &store);

    for id in ids.iter().step_by(997) {
        assert_eq!(
            store.message(id).await.unwrap().unwrap().status,
            Status::Delivered
        );
    }
}

/// Runs `count` calls of `call` with at most [`CALLERS`] in flight, like an HTTP server would.
async fn fan_out<T, F, Fut>(count: usize, call: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
{
    let semaphore = Arc::new(tokio::sync::Semaphore::new(CALLERS));
    let mut tasks = Vec::with_capacity(count);
    for i in 0..count {
        let permit = Arc::clone(&semaphore).acquire_owned().await.unwrap();
        let call = call(i);
        tasks.push(tokio::spawn(async move {
            let out = call.await;
            drop(permit);
            out
        }));
    }
    let mut out = Vec::with_capacity(count);
    for task in tasks {
        out.push(task.await.unwrap());
    }
    out
}

fn report(what: &str, count: usize, started: Instant, store: &SqliteStore) {
    let elapsed = started.elapsed();
    let stats = store.commit_stats();
    println!(
        "{what}: {count} in {elapsed:.2?} = {:.0}/s (commits so far {}, operations {}, largest batch {})",
        count as f64 / elapsed.as_secs_f64(),
        stats.commits,
        stats.operations,
        stats.largest_batch,
    );
}

fn message(account_id: i64, i: usize) -> NewMessage {
    NewMessage {
        id: MessageId::generate(),
        account_id,
        destination: format!("49151{i:08}"),
        sender: "Bench".into(),
        text: Some("benchmark message".into()),
        text_store: Default::default(),
        dlr_url: Some("https://customer.example/dlr".into()),
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
        rejection: None,
        accepted_at: T0,
        priority: Default::default(),
    }
}
