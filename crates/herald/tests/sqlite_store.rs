//! The SQLite store against the `Store` contract, each test on its own database file.

use std::sync::Arc;
use std::time::Duration;

use herald::domain::{ErrCode, MessageId, ReceiptOutcome, Report, Stat, Status};
use herald::store::sqlite::SqliteStore;
use herald::store::{
    AccountRecord, AttemptedJob, CallbackAttempt, CallbackFormat, CallbackJob, CallbackNext,
    CancelOutcome, DuplicatePolicy, Event, Millis, NewMessage, NewSegment, ReceiptMatch,
    ReceiptRecord, Store, StoreError, SubmitJob, SubmitOutcome, SubmitResult, TextStore,
};
use tempfile::TempDir;

mod support;

const T0: Millis = 1_700_000_000_000;
const LEASE: Duration = Duration::from_secs(30);
const CARRIER: &str = "acme";
const DLR_URL: &str = "https://customer.example/dlr";

struct Fixture {
    /// Its database's references are checked when the test is done with it: the store's writer
    /// leaves that to the tests.
    dir: support::CheckedDir,
    store: SqliteStore,
    account_id: i64,
}

impl Fixture {
    async fn new() -> Self {
        let dir = support::CheckedDir::new();
        let store = SqliteStore::open(&url(&dir)).await.expect("open store");
        let account = store
            .upsert_account(AccountRecord {
                username: "shop".into(),
                password_hash: "$argon2id$v=19$m=16,t=2,p=1$c2FsdHNhbHQ$aGFzaA".into(),
                balance: "100.00".into(),
                senders: vec!["Shop".into()],
                dlr_url: Some(DLR_URL.into()),
            })
            .await
            .expect("account");
        Self {
            dir,
            store,
            account_id: account.id,
        }
    }

    fn message(&self, segments: u32) -> NewMessage {
        NewMessage {
            id: MessageId::generate(),
            account_id: self.account_id,
            destination: "4915112345678".into(),
            sender: "Shop".into(),
            text: Some("hello".into()),
            text_store: Default::default(),
            dlr_url: Some(DLR_URL.into()),
            callback_format: Default::default(),
            omnimessage_id: None,
            carrier: Some(CARRIER.into()),
            price: Some("0.05".into()),
            validity: Duration::from_secs(6 * 3600),
            not_before: T0,
            segments: (0..segments)
                .map(|seq| NewSegment {
                    seq,
                    data_coding: 0,
                    esm_class: if segments > 1 { 0x40 } else { 0 },
                    payload: vec![b'a'; 10],
                })
                .collect(),
            rejection: None,
            accepted_at: T0,
            priority: Default::default(),
        }
    }

    /// Accepts a one-part message and claims it.
    async fn accepted_and_claimed(&self) -> (MessageId, SubmitJob) {
        let message = self.message(1);
        let id = message.id.clone();
        self.store.accept(message).await.unwrap();
        let mut jobs = self
            .store
            .claim_submissions(CARRIER, T0, 10, LEASE)
            .await
            .unwrap();
        assert_eq!(jobs.len(), 1);
        (id, jobs.remove(0))
    }

    async fn submit(&self, id: &MessageId, segment: u32, outcome: SubmitOutcome, at: Millis) {
        self.store
            .record_submit(SubmitResult {
                message_id: id.clone(),
                segment,
                carrier: CARRIER.into(),
                outcome,
                at,
            })
            .await
            .unwrap();
    }

    async fn ack(&self, id: &MessageId, segment: u32, carrier_message_id: &str) {
        let outcome = SubmitOutcome::Accepted {
            carrier_message_id: carrier_message_id.into(),
        };
        self.submit(id, segment, outcome, T0 + 1_000).await;
    }

    async fn receipt(
        &self,
        carrier: &str,
        carrier_message_id: &str,
        outcome: ReceiptOutcome,
        at: Millis,
    ) -> ReceiptMatch {
        self.store
            .record_receipt(ReceiptRecord {
                carrier: carrier.into(),
                carrier_message_id: carrier_message_id.into(),
                outcome,
                stat_word: Some("DELIVRD".into()),
                carrier_err: Some("000".into()),
                raw_text: format!("id:{carrier_message_id} sub:001 dlvrd:001 stat:DELIVRD err:000"),
                tlvs: vec![(0x001e, "61626300".into())],
                received_at: at,
            })
            .await
            .unwrap()
    }

    async fn status(&self, id: &MessageId) -> Status {
        self.store
            .message(id)
            .await
            .unwrap()
            .expect("message")
            .status
    }

    async fn kinds(&self, id: &MessageId) -> Vec<String> {
        self.store
            .history(id)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.kind)
            .collect()
    }

    /// Delivers every claimable callback successfully and returns them in delivery order.
    async fn deliver_callbacks(&self, now: Millis) -> Vec<CallbackJob> {
        let mut delivered = Vec::new();
        loop {
            let jobs = self.store.claim_callbacks(now, 100, LEASE).await.unwrap();
            if jobs.is_empty() {
                return delivered;
            }
            for job in jobs {
                self.callback_attempt(&job, now, CallbackNext::Done).await;
                delivered.push(job);
            }
        }
    }

    async fn callback_attempt(&self, job: &CallbackJob, at: Millis, next: CallbackNext) {
        self.store
            .record_callback_attempt(CallbackAttempt {
                job: job.attempted(),
                at,
                url: format!("{}?sms_unique_id={}", job.url, job.message_id),
                http_status: Some(if next == CallbackNext::Done { 200 } else { 503 }),
                error: None,
                duration_ms: 12,
                next,
            })
            .await
            .unwrap();
    }
}

/// The check each test's database gets at its end finds a row that refers to no message.
#[tokio::test]
async fn a_row_referring_to_no_message_fails_the_reference_check() {
    let f = Fixture::new().await;
    let path = f.dir.path().join("herald.db");
    let conn = rusqlite::Connection::open(&path).unwrap();
    // As the store's writer does (rusqlite's SQLite checks references unless told not to).
    conn.pragma_update(None, "foreign_keys", false).unwrap();
    conn.execute(
        "INSERT INTO events (message_id, at, kind, detail) VALUES ('nobody', 0, 'test', '{}')",
        [],
    )
    .unwrap();
    let check = std::panic::catch_unwind(|| support::assert_references_hold(&path));
    assert!(check.is_err(), "an event of no message went unnoticed");
    // Gone again, so the fixture's own check passes.
    conn.execute("DELETE FROM events WHERE message_id = 'nobody'", [])
        .unwrap();
    support::assert_references_hold(&path);
}

fn url(dir: &TempDir) -> String {
    format!("sqlite://{}", dir.path().join("herald.db").display())
}

fn statuses(jobs: &[CallbackJob]) -> Vec<Status> {
    jobs.iter().map(|j| j.report.status).collect()
}

#[tokio::test]
async fn accepted_message_goes_through_claim_ack_and_receipt_with_callbacks_in_order() {
    let f = Fixture::new().await;
    let (id, job) = f.accepted_and_claimed().await;
    assert_eq!(
        (job.carrier.as_str(), job.segment, job.segment_count),
        (CARRIER, 0, 1)
    );
    assert_eq!(job.valid_until, T0 + 6 * 3600 * 1000);
    assert_eq!(f.status(&id).await, Status::Queued);

    f.ack(&id, 0, "1A2B3C").await;
    assert_eq!(f.status(&id).await, Status::Sent);
    let matched = f
        .receipt(CARRIER, "1A2B3C", ReceiptOutcome::Delivered, T0 + 5_000)
        .await;
    assert_eq!(
        matched,
        ReceiptMatch::Matched {
            message_id: id.clone(),
            changed: true
        }
    );

    let view = f.store.message(&id).await.unwrap().unwrap();
    assert_eq!(view.status, Status::Delivered);
    assert_eq!(
        view.report,
        Some(Report::from_receipt(ReceiptOutcome::Delivered))
    );
    let callbacks = f.deliver_callbacks(T0 + 6_000).await;
    assert_eq!(statuses(&callbacks), [Status::Sent, Status::Delivered]);
    assert_eq!(callbacks[0].url, DLR_URL);
    assert_eq!(
        f.kinds(&id).await,
        [
            "accepted", "charge", "submit", "status", "receipt", "status", "callback", "callback"
        ]
    );
    assert!(
        f.store
            .claim_submissions(CARRIER, T0 + 10_000, 10, LEASE)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn receipt_before_the_submit_response_is_applied_when_the_response_arrives() {
    let f = Fixture::new().await;
    let (id, _job) = f.accepted_and_claimed().await;
    let early = f
        .receipt(CARRIER, "77", ReceiptOutcome::Delivered, T0 + 500)
        .await;
    assert_eq!(early, ReceiptMatch::Pending);
    assert_eq!(f.status(&id).await, Status::Queued);

    f.ack(&id, 0, "77").await;
    assert_eq!(f.status(&id).await, Status::Delivered);
    let callbacks = f.deliver_callbacks(T0 + 2_000).await;
    assert_eq!(statuses(&callbacks), [Status::Sent, Status::Delivered]);
    let history = f.store.history(&id).await.unwrap();
    let receipt = history
        .iter()
        .find(|e| e.kind == "receipt")
        .expect("receipt event");
    assert_eq!(receipt.detail["received_at"], T0 + 500);
    assert_eq!(receipt.detail["tlvs"][0]["tag"], 0x001e);
}

#[tokio::test]
async fn duplicate_receipt_changes_nothing_but_is_kept_in_history() {
    let f = Fixture::new().await;
    let (id, _job) = f.accepted_and_claimed().await;
    f.ack(&id, 0, "abc").await;
    f.receipt(CARRIER, "abc", ReceiptOutcome::Delivered, T0 + 2_000)
        .await;
    let again = f
        .receipt(CARRIER, "ABC", ReceiptOutcome::Undeliverable, T0 + 3_000)
        .await;
    assert_eq!(
        again,
        ReceiptMatch::Matched {
            message_id: id.clone(),
            changed: false
        }
    );
    assert_eq!(f.status(&id).await, Status::Delivered);
    let receipts = f
        .kinds(&id)
        .await
        .into_iter()
        .filter(|k| k == "receipt")
        .count();
    assert_eq!(receipts, 2);
    assert_eq!(
        statuses(&f.deliver_callbacks(T0 + 4_000).await),
        [Status::Sent, Status::Delivered]
    );
}

#[tokio::test]
async fn receipt_with_decimal_id_matches_hex_submission_and_the_reverse() {
    let f = Fixture::new().await;
    let (hex_id, _) = f.accepted_and_claimed().await;
    f.ack(&hex_id, 0, "1A2B3C").await;
    let (dec_id, _) = f.accepted_and_claimed().await;
    f.ack(&dec_id, 0, "1715005").await;

    let by_decimal = f
        .receipt(CARRIER, "1715004", ReceiptOutcome::Delivered, T0 + 2_000)
        .await;
    assert_eq!(
        by_decimal,
        ReceiptMatch::Matched {
            message_id: hex_id.clone(),
            changed: true
        }
    );
    let by_hex = f
        .receipt(CARRIER, "001A2B3D", ReceiptOutcome::Delivered, T0 + 2_000)
        .await;
    assert_eq!(
        by_hex,
        ReceiptMatch::Matched {
            message_id: dec_id.clone(),
            changed: true
        }
    );
    let history = f.store.history(&hex_id).await.unwrap();
    let receipt = history.iter().find(|e| e.kind == "receipt").unwrap();
    assert_eq!(
        receipt.detail["matched_by"],
        "decimal_receipt_hex_submission"
    );
}

#[tokio::test]
async fn receipt_of_another_carrier_does_not_match() {
    let f = Fixture::new().await;
    let (id, _) = f.accepted_and_claimed().await;
    f.ack(&id, 0, "5000").await;
    let other = f
        .receipt("globex", "5000", ReceiptOutcome::Delivered, T0 + 2_000)
        .await;
    assert_eq!(other, ReceiptMatch::Pending);
    assert_eq!(f.status(&id).await, Status::Sent);
}

#[tokio::test]
async fn late_receipt_after_own_expiry_is_recorded_without_changing_the_status() {
    let f = Fixture::new().await;
    let (id, job) = f.accepted_and_claimed().await;
    f.ack(&id, 0, "900").await;
    let grace = Duration::from_secs(600);
    assert_eq!(
        f.store
            .expire_overdue(job.valid_until, grace, 100)
            .await
            .unwrap(),
        0
    );
    let after = job.valid_until + 600_000;
    assert_eq!(f.store.expire_overdue(after, grace, 100).await.unwrap(), 1);
    let view = f.store.message(&id).await.unwrap().unwrap();
    assert_eq!(view.report, Some(Report::expired()));
    assert_eq!(
        view.report.map(|r| (r.stat, r.err)),
        Some((Stat::Expired, ErrCode::EXPIRED))
    );

    let late = f
        .receipt(CARRIER, "900", ReceiptOutcome::Delivered, after + 1)
        .await;
    assert_eq!(
        late,
        ReceiptMatch::Matched {
            message_id: id.clone(),
            changed: false
        }
    );
    assert_eq!(f.status(&id).await, Status::Failed);
    assert_eq!(
        f.kinds(&id).await.last().map(String::as_str),
        Some("receipt")
    );
    assert_eq!(
        statuses(&f.deliver_callbacks(after + 2).await),
        [Status::Sent, Status::Failed]
    );
}

#[tokio::test]
async fn expired_leases_bring_submissions_and_callbacks_back() {
    let f = Fixture::new().await;
    let (id, _) = f.accepted_and_claimed().await;
    assert!(
        f.store
            .claim_submissions(CARRIER, T0 + 1_000, 10, LEASE)
            .await
            .unwrap()
            .is_empty()
    );
    let lease_end = T0 + 30_000;
    assert!(
        f.store
            .claim_submissions(CARRIER, lease_end - 1, 10, LEASE)
            .await
            .unwrap()
            .is_empty()
    );
    let again = f
        .store
        .claim_submissions(CARRIER, lease_end, 10, LEASE)
        .await
        .unwrap();
    assert_eq!(
        again.iter().map(|j| &j.message_id).collect::<Vec<_>>(),
        [&id]
    );

    f.ack(&id, 0, "1").await;
    let first = f
        .store
        .claim_callbacks(T0 + 2_000, 10, LEASE)
        .await
        .unwrap();
    assert_eq!(first.len(), 1);
    assert!(
        f.store
            .claim_callbacks(T0 + 3_000, 10, LEASE)
            .await
            .unwrap()
            .is_empty()
    );
    let returned = f
        .store
        .claim_callbacks(T0 + 32_000, 10, LEASE)
        .await
        .unwrap();
    assert_eq!(
        returned.iter().map(|j| j.id).collect::<Vec<_>>(),
        [first[0].id]
    );
}

#[tokio::test]
async fn second_callback_waits_for_the_first_and_follows_once_it_is_exhausted() {
    let f = Fixture::new().await;
    let (id, _) = f.accepted_and_claimed().await;
    f.ack(&id, 0, "42").await;
    f.receipt(CARRIER, "42", ReceiptOutcome::Delivered, T0 + 2_000)
        .await;

    let sent = f
        .store
        .claim_callbacks(T0 + 3_000, 10, LEASE)
        .await
        .unwrap();
    assert_eq!(statuses(&sent), [Status::Sent]);
    f.callback_attempt(&sent[0], T0 + 3_000, CallbackNext::RetryAt(T0 + 60_000))
        .await;
    // The SENT callback is backing off: DELIVERED must not overtake it.
    assert!(
        f.store
            .claim_callbacks(T0 + 4_000, 10, LEASE)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        f.store.next_callback_due().await.unwrap(),
        Some(T0 + 60_000)
    );

    let retried = f
        .store
        .claim_callbacks(T0 + 60_000, 10, LEASE)
        .await
        .unwrap();
    assert_eq!((retried.len(), retried[0].attempts), (1, 1));
    f.callback_attempt(&retried[0], T0 + 60_000, CallbackNext::Exhausted)
        .await;
    let next = f
        .store
        .claim_callbacks(T0 + 60_000, 10, LEASE)
        .await
        .unwrap();
    assert_eq!(statuses(&next), [Status::Delivered]);
    let callback_events = f
        .store
        .history(&id)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "callback");
    let nexts: Vec<_> = callback_events.map(|e| e.detail["next"].clone()).collect();
    assert_eq!(nexts, ["retry", "exhausted"]);
}

#[tokio::test]
async fn temporary_errors_are_retried_then_exhausted_as_rejected_999() {
    let f = Fixture::new().await;
    let (id, _) = f.accepted_and_claimed().await;
    let throttled = |retry_at| SubmitOutcome::Temporary {
        command_status: 0x58,
        retry_at,
    };
    f.submit(&id, 0, throttled(Some(T0 + 10_000)), T0 + 100)
        .await;
    assert_eq!(f.status(&id).await, Status::Queued);
    assert!(
        f.store
            .claim_submissions(CARRIER, T0 + 9_999, 10, LEASE)
            .await
            .unwrap()
            .is_empty()
    );
    let retry = f
        .store
        .claim_submissions(CARRIER, T0 + 10_000, 10, LEASE)
        .await
        .unwrap();
    assert_eq!(retry[0].attempts, 1);

    f.submit(&id, 0, throttled(None), T0 + 10_100).await;
    let view = f.store.message(&id).await.unwrap().unwrap();
    assert_eq!(view.status, Status::Rejected);
    assert_eq!(view.report, Some(Report::temporary_exhausted()));
    assert_eq!(view.report.map(|r| r.err.to_string()), Some("999".into()));
    assert!(
        f.store
            .claim_submissions(CARRIER, T0 + 99_000, 10, LEASE)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        statuses(&f.deliver_callbacks(T0 + 11_000).await),
        [Status::Rejected]
    );
}

#[tokio::test]
async fn not_sent_and_unknown_outcomes_change_no_status() {
    let f = Fixture::new().await;
    let (id, _) = f.accepted_and_claimed().await;
    f.submit(
        &id,
        0,
        SubmitOutcome::NotSent {
            retry_at: T0 + 5_000,
        },
        T0 + 100,
    )
    .await;
    let again = f
        .store
        .claim_submissions(CARRIER, T0 + 5_000, 10, LEASE)
        .await
        .unwrap();
    assert_eq!(again[0].attempts, 0);
    let unknown = SubmitOutcome::Unknown {
        reason: "response timeout".into(),
    };
    f.submit(&id, 0, unknown, T0 + 6_000).await;
    assert_eq!(f.status(&id).await, Status::Queued);
    // Not resent blindly once the carrier may have it.
    assert!(
        f.store
            .claim_submissions(CARRIER, T0 + 99_000, 10, LEASE)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        f.kinds(&id).await,
        ["accepted", "charge", "submit", "submit"]
    );
}

#[tokio::test]
async fn multipart_message_is_sent_until_every_part_is_delivered_and_fails_with_one_part() {
    let f = Fixture::new().await;
    let message = f.message(2);
    let id = message.id.clone();
    f.store.accept(message).await.unwrap();
    let jobs = f
        .store
        .claim_submissions(CARRIER, T0, 10, LEASE)
        .await
        .unwrap();
    assert_eq!(
        jobs.iter()
            .map(|j| (j.segment, j.segment_count))
            .collect::<Vec<_>>(),
        [(0, 2), (1, 2)]
    );
    f.ack(&id, 0, "a1").await;
    f.ack(&id, 1, "a2").await;
    f.receipt(CARRIER, "a1", ReceiptOutcome::Delivered, T0 + 2_000)
        .await;
    assert_eq!(f.status(&id).await, Status::Sent);
    f.receipt(CARRIER, "a2", ReceiptOutcome::Delivered, T0 + 2_000)
        .await;
    assert_eq!(f.status(&id).await, Status::Delivered);

    let failing = f.message(3);
    let failing_id = failing.id.clone();
    f.store.accept(failing).await.unwrap();
    f.store
        .claim_submissions(CARRIER, T0, 10, LEASE)
        .await
        .unwrap();
    f.ack(&failing_id, 0, "b1").await;
    f.ack(&failing_id, 1, "b2").await;
    f.receipt(CARRIER, "b1", ReceiptOutcome::Undeliverable, T0 + 2_000)
        .await;
    assert_eq!(f.status(&failing_id).await, Status::Failed);
    f.receipt(CARRIER, "b2", ReceiptOutcome::Delivered, T0 + 3_000)
        .await;
    assert_eq!(f.status(&failing_id).await, Status::Failed);
}

#[tokio::test]
async fn message_rejected_at_acceptance_is_stored_rejected_with_its_callback() {
    let f = Fixture::new().await;
    let mut message = f.message(1);
    message.carrier = None;
    message.rejection = Some(Report::rejected_by_rule(ErrCode::NO_ROUTE));
    let id = message.id.clone();
    f.store.accept(message).await.unwrap();
    let view = f.store.message(&id).await.unwrap().unwrap();
    assert_eq!(view.status, Status::Rejected);
    assert_eq!(view.report.map(|r| r.err), Some(ErrCode::NO_ROUTE));
    assert!(
        f.store
            .claim_submissions(CARRIER, T0, 10, LEASE)
            .await
            .unwrap()
            .is_empty()
    );
    let callbacks = f.deliver_callbacks(T0).await;
    assert_eq!(
        callbacks.iter().map(|c| c.report.stat).collect::<Vec<_>>(),
        [Stat::Rejectd]
    );
}

#[tokio::test]
async fn scheduled_message_waits_for_its_time_then_becomes_queued() {
    let f = Fixture::new().await;
    let mut message = f.message(1);
    message.not_before = T0 + 3_600_000;
    let id = message.id.clone();
    f.store.accept(message).await.unwrap();
    assert_eq!(f.status(&id).await, Status::Scheduled);
    assert!(
        f.store
            .claim_submissions(CARRIER, T0 + 1, 10, LEASE)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        f.store
            .claim_submissions(CARRIER, T0 + 3_600_000, 10, LEASE)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(f.status(&id).await, Status::Queued);
}

#[tokio::test]
async fn data_survives_reopening_the_database() {
    let f = Fixture::new().await;
    let (id, _) = f.accepted_and_claimed().await;
    f.ack(&id, 0, "300").await;
    // WAL mode is on: the write-ahead log exists next to the database.
    assert!(f.dir.path().join("herald.db-wal").exists());
    let Fixture { dir, store, .. } = f;
    drop(store);

    let reopened = SqliteStore::open(&url(&dir)).await.unwrap();
    assert_eq!(
        reopened.message(&id).await.unwrap().map(|m| m.status),
        Some(Status::Sent)
    );
    assert!(
        reopened
            .account_by_username("shop")
            .await
            .unwrap()
            .is_some()
    );
    let matched = reopened
        .record_receipt(ReceiptRecord {
            carrier: CARRIER.into(),
            carrier_message_id: "300".into(),
            outcome: ReceiptOutcome::Delivered,
            stat_word: Some("DELIVRD".into()),
            carrier_err: None,
            raw_text: "id:300 stat:DELIVRD".into(),
            tlvs: vec![],
            received_at: T0 + 9_000,
        })
        .await
        .unwrap();
    assert_eq!(
        matched,
        ReceiptMatch::Matched {
            message_id: id,
            changed: true
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_accepts_are_all_committed_in_shared_batches() {
    let f = Fixture::new().await;
    let store = Arc::new(f.store);
    let before = store.commit_stats();
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let store = Arc::clone(&store);
            let account_id = f.account_id;
            tokio::spawn(async move {
                let mut ids = Vec::new();
                for _ in 0..40 {
                    let mut message = template(account_id);
                    message.id = MessageId::generate();
                    // Distinct texts: identical ones to one number are over the duplicate limit.
                    message.segments[0].payload = message.id.as_str().as_bytes().to_vec();
                    ids.push(message.id.clone());
                    store.accept(message).await.unwrap();
                }
                ids
            })
        })
        .collect();
    let mut ids = Vec::new();
    for task in tasks {
        ids.extend(task.await.unwrap());
    }
    assert_eq!(ids.len(), 2_000);
    for id in &ids {
        assert_eq!(
            store.message(id).await.unwrap().map(|m| m.status),
            Some(Status::Queued)
        );
    }
    let stats = store.commit_stats();
    let commits = stats.commits - before.commits;
    assert_eq!(stats.operations - before.operations, 2_000);
    assert!(
        commits < 2_000,
        "{commits} commits for 2000 accepts: no batching"
    );
    assert!(stats.largest_batch > 1);
    // Every commit was synced before its callers heard of it, some syncs covering several.
    let syncs = stats.syncs - before.syncs;
    assert!(
        (1..=commits).contains(&syncs),
        "{syncs} log syncs for {commits} commits"
    );
}

#[tokio::test]
async fn a_failing_write_is_rolled_back_alone_and_reports_its_own_error() {
    let f = Fixture::new().await;
    let first = f.message(1);
    f.store.accept(first.clone()).await.unwrap();
    let mut good = f.message(1);
    good.id = MessageId::generate();
    // Same id again: its insert fails; the other accept in the same batch must still commit.
    let (duplicate, fresh) =
        tokio::join!(f.store.accept(first.clone()), f.store.accept(good.clone()));
    assert!(matches!(duplicate, Err(StoreError::Database(_))));
    fresh.unwrap();
    assert!(f.store.message(&good.id).await.unwrap().is_some());
    assert_eq!(f.kinds(&first.id).await, ["accepted"]);
    let unknown_segment = f
        .store
        .record_submit(SubmitResult {
            message_id: first.id.clone(),
            segment: 7,
            carrier: CARRIER.into(),
            outcome: SubmitOutcome::Rejected {
                command_status: 0x45,
            },
            at: T0,
        })
        .await;
    assert!(matches!(unknown_segment, Err(StoreError::NotFound)));
    assert_eq!(f.kinds(&first.id).await, ["accepted"]);
}

#[tokio::test]
async fn duplicate_block_started_in_a_batch_with_a_failing_write_is_kept() {
    let Fixture {
        dir: _dir,
        store,
        account_id,
    } = Fixture::new().await;
    let f = Fixture {
        dir: _dir,
        store: store.with_duplicate_policy(DuplicatePolicy {
            limit: 1,
            window: Duration::from_secs(60),
            block: Duration::from_secs(3600),
        }),
        account_id,
    };
    let first = f.message(1);
    f.store.accept(first.clone()).await.unwrap();
    let mut over_limit = f.message(1);
    over_limit.accepted_at = T0 + 1_000;
    // The failing accept makes the writer run the batch again, one savepoint per operation:
    // the rerun must still decide "over the limit" and start the block.
    let (failed, refused) = tokio::join!(
        f.store.accept(first.clone()),
        f.store.accept(over_limit.clone())
    );
    assert!(matches!(failed, Err(StoreError::Database(_))));
    refused.unwrap();
    let view = f.store.message(&over_limit.id).await.unwrap().unwrap();
    assert_eq!(view.status, Status::Rejected);
    assert_eq!(view.report.map(|r| r.err), Some(ErrCode::DUPLICATE));

    // Past the counting window, only the block can refuse it.
    let mut later = f.message(1);
    later.accepted_at = T0 + 120_000;
    f.store.accept(later.clone()).await.unwrap();
    let view = f.store.message(&later.id).await.unwrap().unwrap();
    assert_eq!(view.report.map(|r| r.err), Some(ErrCode::DUPLICATE));
}

fn template(account_id: i64) -> NewMessage {
    NewMessage {
        id: MessageId::generate(),
        account_id,
        destination: "4915112345678".into(),
        sender: "Shop".into(),
        text: None,
        text_store: Default::default(),
        dlr_url: None,
        callback_format: Default::default(),
        omnimessage_id: None,
        carrier: Some(CARRIER.into()),
        price: None,
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
async fn early_decimal_receipt_is_applied_when_the_hex_submit_response_arrives() {
    let f = Fixture::new().await;
    let (id, _) = f.accepted_and_claimed().await;
    let early = f
        .receipt(CARRIER, "1715004", ReceiptOutcome::Delivered, T0 + 500)
        .await;
    assert_eq!(early, ReceiptMatch::Pending);
    f.ack(&id, 0, "1a2b3c").await;
    assert_eq!(f.status(&id).await, Status::Delivered);
    let unknown_callback = f
        .store
        .record_callback_attempt(CallbackAttempt {
            job: AttemptedJob {
                id: 999_999,
                message_id: id.clone(),
                told: Status::Delivered,
                format: CallbackFormat::Query,
            },
            at: T0,
            url: DLR_URL.into(),
            http_status: Some(200),
            error: None,
            duration_ms: 1,
            next: CallbackNext::Done,
        })
        .await;
    assert!(matches!(unknown_callback, Err(StoreError::NotFound)));
}

#[tokio::test]
async fn a_scheduled_message_is_cancelled_rejected_deleted_and_never_claimed() {
    let f = Fixture::new().await;
    let mut message = f.message(2);
    message.not_before = T0 + 3_600_000;
    let id = message.id.clone();
    f.store.accept(message).await.unwrap();

    let outcome = f.store.cancel(&id, f.account_id, T0 + 10).await.unwrap();
    assert_eq!(outcome, CancelOutcome::Cancelled);
    let view = f.store.message(&id).await.unwrap().unwrap();
    assert_eq!(view.status, Status::Rejected);
    assert_eq!(view.report, Some(Report::cancelled()));
    assert_eq!(
        view.report.map(|r| (r.stat, r.dlr_mask, r.err)),
        Some((Stat::Deleted, 16, ErrCode::NONE))
    );
    assert!(
        f.store
            .claim_submissions(CARRIER, T0 + 3_600_000, 10, LEASE)
            .await
            .unwrap()
            .is_empty(),
        "a cancelled message is never submitted"
    );
    let callbacks = f.deliver_callbacks(T0 + 20).await;
    assert_eq!(statuses(&callbacks), vec![Status::Rejected]);
    assert_eq!(callbacks[0].report, Report::cancelled());
    assert!(f.kinds(&id).await.contains(&"cancelled".to_owned()));
    // Cancelling twice: it is final now.
    assert_eq!(
        f.store.cancel(&id, f.account_id, T0 + 30).await.unwrap(),
        CancelOutcome::TooLate
    );
}

#[tokio::test]
async fn another_accounts_or_an_unknown_message_cannot_be_cancelled() {
    let f = Fixture::new().await;
    let mut message = f.message(1);
    message.not_before = T0 + 3_600_000;
    let id = message.id.clone();
    f.store.accept(message).await.unwrap();
    assert_eq!(
        f.store.cancel(&id, f.account_id + 1, T0).await.unwrap(),
        CancelOutcome::Unknown
    );
    assert_eq!(
        f.store
            .cancel(&MessageId::generate(), f.account_id, T0)
            .await
            .unwrap(),
        CancelOutcome::Unknown
    );
    assert_eq!(f.status(&id).await, Status::Scheduled);
}

#[tokio::test]
async fn a_message_claimed_or_submitted_is_too_late_to_cancel() {
    let f = Fixture::new().await;
    let (id, _job) = f.accepted_and_claimed().await;
    // Leased to a submitter: it may be on the wire already.
    assert_eq!(
        f.store.cancel(&id, f.account_id, T0 + 1).await.unwrap(),
        CancelOutcome::TooLate
    );
    f.ack(&id, 0, "c-1").await;
    assert_eq!(
        f.store.cancel(&id, f.account_id, T0 + 2_000).await.unwrap(),
        CancelOutcome::TooLate
    );
    assert_eq!(f.status(&id).await, Status::Sent);
}

/// The one column `sql` selects for message `id`, row by row, read straight from the database
/// file.
async fn stored<T>(f: &Fixture, sql: &'static str, id: &MessageId) -> Vec<T>
where
    T: Send + Unpin + for<'r> sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
{
    let pool = sqlx::SqlitePool::connect(&url(&f.dir)).await.unwrap();
    sqlx::query_scalar(sql)
        .bind(id.as_str())
        .fetch_all(&pool)
        .await
        .unwrap()
}

/// Stores a history line of `kind` for message `id` at `T0`, as an earlier Herald (or a step
/// other than the one under test) wrote it, straight into the database file.
async fn store_line(f: &Fixture, id: &MessageId, kind: &str, detail: &str) {
    let pool = sqlx::SqlitePool::connect(&url(&f.dir)).await.unwrap();
    sqlx::query(
        "INSERT INTO events (message_id, at, kind, segment, detail) VALUES (?, ?, ?, NULL, ?)",
    )
    .bind(id.as_str())
    .bind(T0)
    .bind(kind)
    .bind(detail)
    .execute(&pool)
    .await
    .unwrap();
}

/// The segment payloads as stored.
async fn stored_payloads(f: &Fixture, id: &MessageId) -> Vec<Vec<u8>> {
    stored(
        f,
        "SELECT payload FROM segments WHERE message_id = ? ORDER BY seq",
        id,
    )
    .await
}

#[tokio::test]
async fn beyond_plaintext_the_segments_are_forgotten_once_the_message_is_final() {
    let f = Fixture::new().await;
    let mut message = f.message(2);
    message.text_store = TextStore::Sha256;
    message.text = TextStore::Sha256.kept("hello");
    let id = message.id.clone();
    f.store.accept(message).await.unwrap();
    let jobs = f
        .store
        .claim_submissions(CARRIER, T0, 10, LEASE)
        .await
        .unwrap();
    // Still needed while it is being sent.
    assert!(jobs.iter().all(|j| j.payload == vec![b'a'; 10]));
    f.ack(&id, 0, "c-1").await;
    f.ack(&id, 1, "c-2").await;
    assert_eq!(stored_payloads(&f, &id).await, vec![vec![b'a'; 10]; 2]);
    f.receipt(CARRIER, "c-1", ReceiptOutcome::Delivered, T0 + 2_000)
        .await;
    f.receipt(CARRIER, "c-2", ReceiptOutcome::Delivered, T0 + 2_000)
        .await;
    assert_eq!(f.status(&id).await, Status::Delivered);
    assert_eq!(stored_payloads(&f, &id).await, vec![Vec::<u8>::new(); 2]);
    let view = f.store.message(&id).await.unwrap().unwrap();
    assert_eq!(view.text, TextStore::Sha256.kept("hello"));
}

#[tokio::test]
async fn plaintext_keeps_text_and_segments_and_a_rejected_nostore_message_keeps_neither() {
    let f = Fixture::new().await;
    let plain = f.message(1);
    let plain_id = plain.id.clone();
    f.store.accept(plain).await.unwrap();

    let mut secret = f.message(1);
    secret.text_store = TextStore::Nostore;
    secret.text = None;
    secret.rejection = Some(Report::rejected_by_rule(ErrCode::NO_ROUTE));
    let secret_id = secret.id.clone();
    f.store.accept(secret).await.unwrap();

    assert_eq!(stored_payloads(&f, &plain_id).await, vec![vec![b'a'; 10]]);
    let view = f.store.message(&plain_id).await.unwrap().unwrap();
    assert_eq!(view.text.as_deref(), Some("hello"));
    assert_eq!(
        stored_payloads(&f, &secret_id).await,
        vec![Vec::<u8>::new()]
    );
    assert_eq!(
        f.store.message(&secret_id).await.unwrap().unwrap().text,
        None
    );
}

/// The callback states as stored, oldest first.
async fn stored_callback_states(f: &Fixture, id: &MessageId) -> Vec<String> {
    stored(
        f,
        "SELECT state FROM callbacks WHERE message_id = ? ORDER BY id",
        id,
    )
    .await
}

/// Behind a receiver that is down, a message's final callback waits out of the claims' way
/// (it is not claimable, not even looked at) until the one ahead of it is delivered; a claimed
/// callback is due again when its lease ends.
#[tokio::test]
async fn final_callback_waits_behind_a_failing_one_until_it_is_delivered() {
    let f = Fixture::new().await;
    let (id, _) = f.accepted_and_claimed().await;
    f.ack(&id, 0, "42").await;
    f.receipt(CARRIER, "42", ReceiptOutcome::Delivered, T0 + 2_000)
        .await;
    assert_eq!(
        stored_callback_states(&f, &id).await,
        ["pending", "waiting"]
    );

    let sent = f
        .store
        .claim_callbacks(T0 + 3_000, 10, LEASE)
        .await
        .unwrap();
    assert_eq!(statuses(&sent), [Status::Sent]);
    assert_eq!(
        f.store.next_callback_due().await.unwrap(),
        Some(T0 + 3_000 + LEASE.as_millis() as i64)
    );
    let retry_at = T0 + 3_600_000;
    f.callback_attempt(&sent[0], T0 + 3_000, CallbackNext::RetryAt(retry_at))
        .await;
    assert_eq!(
        stored_callback_states(&f, &id).await,
        ["pending", "waiting"]
    );
    assert!(
        f.store
            .claim_callbacks(T0 + 4_000, 10, LEASE)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(f.store.next_callback_due().await.unwrap(), Some(retry_at));

    let again = f.store.claim_callbacks(retry_at, 10, LEASE).await.unwrap();
    assert_eq!(statuses(&again), [Status::Sent]);
    f.callback_attempt(&again[0], retry_at, CallbackNext::Done)
        .await;
    assert_eq!(stored_callback_states(&f, &id).await, ["done", "pending"]);
    assert_eq!(
        statuses(&f.deliver_callbacks(retry_at).await),
        [Status::Delivered]
    );
    assert_eq!(stored_callback_states(&f, &id).await, ["done", "done"]);
}

/// Once a worker claims, a callback claimable as it is written goes to the worker's next claim
/// without a claim from the database, already leased to it in the database; a promoted one
/// likewise. What the worker does not take in time, or a store that stops holding, is found
/// by a claim from the database once the lease has run out, as a claimed callback is.
/// While callbacks stream through the hand-off, a claim that came back with as many as it had
/// room for has the next claim read the database again: a backlog there (a receiver back after
/// hours) drains claim by claim, not one claim's worth every 100 ms.
#[tokio::test]
async fn a_backlog_in_the_database_drains_while_callbacks_stream_through_the_hand_off() {
    let f = Fixture::new().await;
    // Taken by the carrier before any worker claimed: their SENT callbacks wait in the database.
    let mut backlog = Vec::new();
    for i in 0..3 {
        let (id, _) = f.accepted_and_claimed().await;
        f.ack(&id, 0, &format!("b{i}")).await;
        backlog.push(id.as_str().to_owned());
    }
    let first = f.store.claim_callbacks(T0 + 1_000, 1, LEASE).await.unwrap();
    assert_eq!(first.len(), 1);
    let mut claimed = vec![first[0].message_id.as_str().to_owned()];
    // Each step within 100 ms of the first claim: one SENT callback handed off, then a claim
    // with room for two.
    for step in 0..2 {
        let (id, _) = f.accepted_and_claimed().await;
        f.ack(&id, 0, &format!("s{step}")).await;
        let jobs = f
            .store
            .claim_callbacks(T0 + 1_010 + step, 2, LEASE)
            .await
            .unwrap();
        let ids: Vec<String> = jobs
            .iter()
            .map(|j| j.message_id.as_str().to_owned())
            .collect();
        assert!(ids.contains(&id.as_str().to_owned()), "the one handed off");
        assert_eq!(ids.len(), 2, "and one from the database, step {step}");
        claimed.extend(ids.into_iter().filter(|m| m != id.as_str()));
    }
    claimed.sort();
    backlog.sort();
    assert_eq!(claimed, backlog);
}

#[tokio::test]
async fn callbacks_written_once_a_worker_claims_are_handed_to_it_already_leased() {
    let f = Fixture::new().await;
    let (id, _) = f.accepted_and_claimed().await;
    assert!(
        f.store
            .claim_callbacks(T0, 10, LEASE)
            .await
            .unwrap()
            .is_empty()
    );
    f.ack(&id, 0, "42").await;
    let lease = LEASE.as_millis() as i64;
    let sent_lease_end = T0 + 1_000 + lease;
    assert_eq!(
        stored::<Option<i64>>(
            &f,
            "SELECT lease_until FROM callbacks WHERE message_id = ? ORDER BY id",
            &id
        )
        .await,
        [Some(sent_lease_end)]
    );
    // Leased: the database has nothing due before the lease ends.
    assert_eq!(
        f.store.next_callback_due().await.unwrap(),
        Some(sent_lease_end)
    );
    let sent = f
        .store
        .claim_callbacks(T0 + 1_000, 10, LEASE)
        .await
        .unwrap();
    assert_eq!(statuses(&sent), [Status::Sent]);
    assert_eq!((sent[0].attempts, sent[0].enqueued_at), (0, T0 + 1_000));
    assert!(
        f.store
            .claim_callbacks(T0 + 1_200, 10, LEASE)
            .await
            .unwrap()
            .is_empty()
    );

    // The final one waits behind SENT, then is handed off as SENT is delivered.
    f.receipt(CARRIER, "42", ReceiptOutcome::Delivered, T0 + 2_000)
        .await;
    assert_eq!(
        stored_callback_states(&f, &id).await,
        ["pending", "waiting"]
    );
    f.callback_attempt(&sent[0], T0 + 3_000, CallbackNext::Done)
        .await;
    assert_eq!(stored_callback_states(&f, &id).await, ["done", "pending"]);

    // A store opened again on the file holds nothing (as after a crash): the DELIVERED
    // callback is claimed from the database when its lease is over, not before. Its lease
    // counts from the end of the attempt that let it out (12 ms long).
    let reopened = SqliteStore::open(&url(&f.dir)).await.unwrap();
    let final_lease_end = T0 + 3_012 + lease;
    assert!(
        reopened
            .claim_callbacks(final_lease_end - 1, 10, LEASE)
            .await
            .unwrap()
            .is_empty()
    );
    let delivered = reopened
        .claim_callbacks(final_lease_end, 10, LEASE)
        .await
        .unwrap();
    assert_eq!(statuses(&delivered), [Status::Delivered]);
    // The first store's worker comes too late: past half the lease, the job it held is left to
    // the database, which has it leased to the other claim.
    assert!(
        f.store
            .claim_callbacks(final_lease_end, 10, LEASE)
            .await
            .unwrap()
            .is_empty()
    );
}

/// A message's history begins with its `accepted` line, read from the message row (which holds
/// all it says); a line stored for it (as Herald wrote one before) is shown instead, not twice.
/// A status change written with its event reads as its own line right after it.
#[tokio::test]
async fn history_begins_with_the_accepted_line_and_shows_each_status_change_after_its_event() {
    let f = Fixture::new().await;
    let (id, _) = f.accepted_and_claimed().await;
    f.ack(&id, 0, "42").await;
    let history = f.store.history(&id).await.unwrap();
    let lines: Vec<(Millis, &str, Option<u32>)> = history
        .iter()
        .map(|e| (e.at, e.kind.as_str(), e.segment))
        .collect();
    assert_eq!(
        lines,
        [
            (T0, "accepted", None),
            (T0, "charge", None),
            (T0 + 1_000, "submit", Some(0)),
            (T0 + 1_000, "status", None),
        ]
    );
    assert_eq!(
        history[0].detail,
        serde_json::json!({
            "carrier": CARRIER, "not_before": T0, "priority": "regular", "segments": 1,
            "valid_until": T0 + 6 * 3_600_000,
        })
    );
    assert_eq!(
        history[1].detail,
        serde_json::json!({ "amount_micros": 50_000 })
    );
    assert_eq!(history[3].detail["status"], "sent");
    assert_eq!(
        stored::<i64>(&f, "SELECT count(*) FROM events WHERE message_id = ?", &id).await,
        [1],
        "submit with its status: no accepted or charge row"
    );

    let older = f.message(1);
    let older_id = older.id.clone();
    f.store.accept(older).await.unwrap();
    store_line(&f, &older_id, "accepted", r#"{"stored":true}"#).await;
    let history = f.store.history(&older_id).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].detail, serde_json::json!({ "stored": true }));
}

/// A message's `charge` line is read from its row too, and shown where it was written: after
/// every line written before its claim, ahead of every line written after. A message charged
/// before Herald stopped storing that line shows the stored one alone.
#[tokio::test]
async fn the_charge_line_stands_between_the_lines_written_before_and_after_it() {
    let f = Fixture::new().await;
    let message = f.message(1);
    let id = message.id.clone();
    f.store.accept(message).await.unwrap();
    // A line written before the claim.
    store_line(&f, &id, "note", "{}").await;
    let jobs = f
        .store
        .claim_submissions(CARRIER, T0 + 500, 10, LEASE)
        .await
        .unwrap();
    assert_eq!(jobs.len(), 1);
    f.ack(&id, 0, "42").await;
    let kinds = |history: &[Event]| -> Vec<(Millis, String)> {
        history.iter().map(|e| (e.at, e.kind.clone())).collect()
    };
    let history = f.store.history(&id).await.unwrap();
    assert_eq!(
        kinds(&history),
        [
            (T0, "accepted".to_owned()),
            (T0, "note".to_owned()),
            (T0 + 500, "charge".to_owned()),
            (T0 + 1_000, "submit".to_owned()),
            (T0 + 1_000, "status".to_owned()),
        ]
    );

    // Charged before: its line stored, nothing of it on the row but the amount.
    let older = f.message(1);
    let older_id = older.id.clone();
    f.store.accept(older).await.unwrap();
    let pool = sqlx::SqlitePool::connect(&url(&f.dir)).await.unwrap();
    sqlx::query("UPDATE messages SET charge_micros = 50000 WHERE id = ?")
        .bind(older_id.as_str())
        .execute(&pool)
        .await
        .unwrap();
    store_line(&f, &older_id, "charge", r#"{"amount_micros":50000}"#).await;
    let history = f.store.history(&older_id).await.unwrap();
    assert_eq!(
        kinds(&history),
        [(T0, "accepted".to_owned()), (T0, "charge".to_owned())]
    );
}

/// The message counts (`/metrics`) follow every status change as it is committed, and a store
/// opened again on the same file counts the same.
#[tokio::test]
async fn message_counts_follow_each_status_change_and_are_counted_again_on_opening() {
    async fn counts(store: &SqliteStore) -> Vec<(Option<String>, Status, u64)> {
        store
            .message_counts()
            .await
            .unwrap()
            .into_iter()
            .map(|c| (c.carrier, c.status, c.count))
            .collect()
    }
    let f = Fixture::new().await;
    let (id, _) = f.accepted_and_claimed().await;
    let mut refused = f.message(1);
    refused.carrier = None;
    refused.rejection = Some(Report::rejected_by_rule(ErrCode::NO_ROUTE));
    f.store.accept(refused).await.unwrap();
    let route = Some(CARRIER.to_owned());
    assert_eq!(
        counts(&f.store).await,
        [
            (None, Status::Rejected, 1),
            (route.clone(), Status::Queued, 1)
        ]
    );
    f.ack(&id, 0, "42").await;
    assert_eq!(
        counts(&f.store).await,
        [
            (None, Status::Rejected, 1),
            (route.clone(), Status::Sent, 1)
        ]
    );
    f.receipt(CARRIER, "42", ReceiptOutcome::Delivered, T0 + 2_000)
        .await;
    let delivered = [(None, Status::Rejected, 1), (route, Status::Delivered, 1)];
    assert_eq!(counts(&f.store).await, delivered);

    let reopened = SqliteStore::open(&url(&f.dir)).await.unwrap();
    assert_eq!(counts(&reopened).await, delivered);
}
