//! The SQLite store's side of two receipt rules, each test on its own database file:
//! - joint submissions (a carrier with `concatenation = "payload"` gets a long message in one
//!   `submit_sm`): the message's segments are claimed, retried and reported on together, and the
//!   one carrier id finds all of them, also for a receipt that came before the response;
//! - a receipt of a message whose text is not kept (`text-store` sha256 / nostore) loses the
//!   `text:` it repeats, also when it was stored before its `submit_sm_resp`.

use std::time::Duration;

use herald::domain::{ErrCode, MessageId, ReceiptOutcome, Status};
use herald::store::sqlite::SqliteStore;
use herald::store::{
    AccountRecord, CallbackAttempt, CallbackJob, CallbackNext, Millis, NewMessage, NewSegment,
    ReceiptMatch, ReceiptRecord, Store, SubmitJob, SubmitOutcome, SubmitResult, TextStore,
};

mod support;

const T0: Millis = 1_700_000_000_000;
const LEASE: Duration = Duration::from_secs(30);
const CARRIER: &str = "acme";
const DLR_URL: &str = "https://customer.example/dlr";
const SECRET: &str = "Your code is 123456";

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
        let url = format!("sqlite://{}", dir.path().join("herald.db").display());
        let store = SqliteStore::open(&url).await.expect("open store");
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

    /// Accepts a message of `segments` parts (priced 0.05 each), its text kept as `text_store`.
    async fn accept(&self, segments: u32, text_store: TextStore) -> MessageId {
        let id = MessageId::generate();
        self.store
            .accept(NewMessage {
                id: id.clone(),
                account_id: self.account_id,
                destination: "4915112345678".into(),
                sender: "Shop".into(),
                text: text_store.kept(SECRET),
                text_store,
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
            })
            .await
            .unwrap();
        id
    }

    async fn claim_whole(&self, now: Millis, limit: usize) -> Vec<SubmitJob> {
        self.store
            .claim_whole_messages(CARRIER, now, limit, LEASE)
            .await
            .unwrap()
    }

    /// Records one joint submission of `jobs` with `outcome`.
    async fn submitted(&self, jobs: &[SubmitJob], outcome: SubmitOutcome, at: Millis) {
        let results = jobs
            .iter()
            .map(|job| SubmitResult {
                message_id: job.message_id.clone(),
                segment: job.segment,
                carrier: CARRIER.into(),
                outcome: outcome.clone(),
                at,
            })
            .collect();
        self.store.record_joint_submit(results).await.unwrap();
    }

    async fn receipt(&self, carrier_message_id: &str, raw_text: &str, at: Millis) -> ReceiptMatch {
        self.store
            .record_receipt(ReceiptRecord {
                carrier: CARRIER.into(),
                carrier_message_id: carrier_message_id.into(),
                outcome: ReceiptOutcome::Delivered,
                stat_word: Some("DELIVRD".into()),
                carrier_err: Some("000".into()),
                raw_text: raw_text.into(),
                // receipted_message_id, and the receipt text again in message_payload.
                tlvs: vec![
                    (0x001e, hex(carrier_message_id.as_bytes())),
                    (0x0424, hex(raw_text.as_bytes())),
                ],
                received_at: at,
            })
            .await
            .unwrap()
    }

    async fn status(&self, id: &MessageId) -> Status {
        self.store.message(id).await.unwrap().unwrap().status
    }

    /// Delivers every claimable callback and returns them in delivery order.
    async fn deliver_callbacks(&self, now: Millis) -> Vec<CallbackJob> {
        let mut delivered = Vec::new();
        loop {
            let jobs = self.store.claim_callbacks(now, 100, LEASE).await.unwrap();
            if jobs.is_empty() {
                return delivered;
            }
            for job in jobs {
                self.store
                    .record_callback_attempt(CallbackAttempt {
                        job: job.attempted(),
                        at: now,
                        url: job.url.clone(),
                        http_status: Some(200),
                        error: None,
                        duration_ms: 1,
                        next: CallbackNext::Done,
                    })
                    .await
                    .unwrap();
                delivered.push(job);
            }
        }
    }

    /// (segment, state, carrier_message_id) of each segment, read straight from the file.
    async fn segments(&self, id: &MessageId) -> Vec<(u32, String, Option<String>, i64)> {
        use sqlx::Row;
        sqlx::query(
            "SELECT seq, state, carrier_message_id, not_before FROM segments
              WHERE message_id = ? ORDER BY seq",
        )
        .bind(id.as_str())
        .fetch_all(&self.raw().await)
        .await
        .unwrap()
        .iter()
        .map(|r| {
            (
                r.get("seq"),
                r.get("state"),
                r.get("carrier_message_id"),
                r.get("not_before"),
            )
        })
        .collect()
    }

    /// Every stored receipt's (raw_text, tlvs), read straight from the file.
    async fn stored_receipts(&self) -> Vec<(String, serde_json::Value)> {
        use sqlx::Row;
        sqlx::query("SELECT raw_text, tlvs FROM receipts ORDER BY id")
            .fetch_all(&self.raw().await)
            .await
            .unwrap()
            .iter()
            .map(|r| {
                let tlvs: String = r.get("tlvs");
                (r.get("raw_text"), serde_json::from_str(&tlvs).unwrap())
            })
            .collect()
    }

    async fn raw(&self) -> sqlx::SqlitePool {
        let url = format!("sqlite://{}", self.dir.path().join("herald.db").display());
        sqlx::SqlitePool::connect(&url).await.unwrap()
    }

    async fn balance(&self) -> String {
        self.store
            .balance(self.account_id)
            .await
            .unwrap()
            .to_string()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn receipt_text(id: &str) -> String {
    format!(
        "id:{id} sub:001 dlvrd:001 submit date:2311142213 done date:2311142214 stat:DELIVRD err:000 text:{SECRET}"
    )
}

fn accepted(id: &str) -> SubmitOutcome {
    SubmitOutcome::Accepted {
        carrier_message_id: id.into(),
    }
}

#[tokio::test]
async fn a_whole_message_is_claimed_even_past_the_limit_and_charged_per_segment() {
    let f = Fixture::new().await;
    let long = f.accept(3, TextStore::Plaintext).await;
    let jobs = f.claim_whole(T0, 1).await;
    let claimed: Vec<(&MessageId, u32)> = jobs.iter().map(|j| (&j.message_id, j.segment)).collect();
    assert_eq!(claimed, [(&long, 0), (&long, 1), (&long, 2)]);
    assert_eq!(f.balance().await, "99.85", "three parts at 0.05");
    // Leased together: nothing of it is claimed again, the next message is.
    let short = f.accept(1, TextStore::Plaintext).await;
    let next = f.claim_whole(T0, 10).await;
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].message_id, short);
}

#[tokio::test]
async fn one_claim_charges_an_account_what_its_balance_pays_and_rejects_the_rest_with_err_004() {
    let f = Fixture::new().await;
    // 100.00 at 0.05 a part pays for 2,000 parts: the first two messages, not the third.
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(f.accept(800, TextStore::Plaintext).await);
    }
    let jobs = f.claim_whole(T0, 2_400).await;
    let mut claimed: Vec<&MessageId> = jobs.iter().map(|j| &j.message_id).collect();
    claimed.dedup();
    assert_eq!(claimed, [&ids[0], &ids[1]]);
    assert_eq!(
        f.balance().await,
        "20.00",
        "debited once for both, never below zero"
    );
    let refused = f.store.message(&ids[2]).await.unwrap().unwrap();
    assert_eq!(refused.status, Status::Rejected);
    assert_eq!(refused.report.map(|r| r.err), Some(ErrCode::CREDIT));
    // Nothing more to claim: the refused message is done, the others are leased.
    assert!(f.claim_whole(T0, 2_400).await.is_empty());
    assert_eq!(f.balance().await, "20.00");
}

#[tokio::test]
async fn one_carrier_id_finds_every_segment_and_the_message_is_delivered_with_one_callback() {
    let f = Fixture::new().await;
    let id = f.accept(3, TextStore::Plaintext).await;
    let jobs = f.claim_whole(T0, 10).await;
    f.submitted(&jobs, accepted("5F00"), T0 + 1_000).await;
    let segments = f.segments(&id).await;
    assert!(
        segments
            .iter()
            .all(|(_, state, cid, _)| state == "sent" && cid.as_deref() == Some("5F00")),
        "{segments:?}"
    );
    assert_eq!(f.status(&id).await, Status::Sent);

    // The carrier writes the id in decimal in its receipt: still every segment.
    let matched = f.receipt("24320", &receipt_text("24320"), T0 + 2_000).await;
    assert_eq!(
        matched,
        ReceiptMatch::Matched {
            message_id: id.clone(),
            changed: true
        }
    );
    assert_eq!(f.status(&id).await, Status::Delivered);
    let callbacks = f.deliver_callbacks(T0 + 3_000).await;
    let statuses: Vec<Status> = callbacks.iter().map(|c| c.report.status).collect();
    assert_eq!(statuses, [Status::Sent, Status::Delivered]);
    // Every segment's report is in the history, from the one receipt.
    let history = f.store.history(&id).await.unwrap();
    let receipts: Vec<Option<u32>> = history
        .iter()
        .filter(|e| e.kind == "receipt")
        .map(|e| e.segment)
        .collect();
    assert_eq!(receipts, [Some(0), Some(1), Some(2)]);
    let statuses = history.iter().filter(|e| e.kind == "status").count();
    assert_eq!(statuses, 2, "Sent once, Delivered once");
    assert_eq!(f.balance().await, "99.85", "paid per part");
}

#[tokio::test]
async fn a_receipt_before_the_joint_submit_response_applies_to_every_segment() {
    let f = Fixture::new().await;
    let id = f.accept(2, TextStore::Plaintext).await;
    let jobs = f.claim_whole(T0, 10).await;
    let early = f.receipt("77", &receipt_text("77"), T0 + 500).await;
    assert_eq!(early, ReceiptMatch::Pending);
    f.submitted(&jobs, accepted("77"), T0 + 1_000).await;
    assert_eq!(f.status(&id).await, Status::Delivered);
    let callbacks = f.deliver_callbacks(T0 + 2_000).await;
    let statuses: Vec<Status> = callbacks.iter().map(|c| c.report.status).collect();
    assert_eq!(statuses, [Status::Sent, Status::Delivered]);
    assert!(
        f.segments(&id)
            .await
            .iter()
            .all(|(_, state, _, _)| state == "done")
    );
}

#[tokio::test]
async fn a_throttled_joint_submission_is_requeued_whole_and_an_unknown_one_marks_all_unknown() {
    let f = Fixture::new().await;
    let id = f.accept(3, TextStore::Plaintext).await;
    let jobs = f.claim_whole(T0, 10).await;
    let retry_at = T0 + 5_000;
    f.submitted(
        &jobs,
        SubmitOutcome::Temporary {
            command_status: 0x58,
            retry_at: Some(retry_at),
        },
        T0 + 1_000,
    )
    .await;
    let segments = f.segments(&id).await;
    assert!(
        segments
            .iter()
            .all(|(_, state, _, not_before)| state == "queued" && *not_before == retry_at),
        "{segments:?}"
    );
    assert!(f.claim_whole(retry_at - 1, 10).await.is_empty());
    let again = f.claim_whole(retry_at, 1).await;
    assert_eq!(again.len(), 3, "requeued together, claimed together");
    assert!(again.iter().all(|j| j.attempts == 1));
    assert_eq!(f.balance().await, "99.85", "not charged twice");

    f.submitted(
        &again,
        SubmitOutcome::Unknown {
            reason: "response timeout".into(),
        },
        retry_at + 1_000,
    )
    .await;
    let segments = f.segments(&id).await;
    assert!(
        segments.iter().all(|(_, state, _, _)| state == "unknown"),
        "{segments:?}"
    );
    assert_eq!(
        f.status(&id).await,
        Status::Queued,
        "no status from silence"
    );
    assert!(f.claim_whole(retry_at + 60_000, 10).await.is_empty());
}

#[tokio::test]
async fn a_refused_joint_submission_rejects_the_message_once_and_refunds_it() {
    let f = Fixture::new().await;
    let id = f.accept(2, TextStore::Plaintext).await;
    let jobs = f.claim_whole(T0, 10).await;
    f.submitted(
        &jobs,
        SubmitOutcome::Rejected {
            command_status: 0x0B,
        },
        T0 + 1_000,
    )
    .await;
    assert_eq!(f.status(&id).await, Status::Rejected);
    let callbacks = f.deliver_callbacks(T0 + 2_000).await;
    assert_eq!(callbacks.len(), 1);
    assert_eq!(f.balance().await, "100.00");
}

#[tokio::test]
async fn receipts_of_a_message_whose_text_is_not_kept_lose_the_text_they_repeat() {
    for text_store in [TextStore::Sha256, TextStore::Nostore] {
        let f = Fixture::new().await;
        let id = f.accept(1, text_store).await;
        let jobs = f.claim_whole(T0, 10).await;
        f.submitted(&jobs, accepted("A1"), T0 + 1_000).await;
        f.receipt("A1", &receipt_text("A1"), T0 + 2_000).await;
        assert_eq!(f.status(&id).await, Status::Delivered);

        let stored = f.stored_receipts().await;
        let (raw_text, tlvs) = &stored[0];
        assert!(
            raw_text.ends_with("stat:DELIVRD err:000 text:"),
            "{raw_text}"
        );
        assert_eq!(tlvs[0]["value"], hex(b"A1"), "the id is kept");
        assert_eq!(tlvs[1]["value"], "", "message_payload echoes the text");
        assert_eq!(tlvs[1]["redacted"], true);
        let history = f.store.history(&id).await.unwrap();
        let line = history.iter().find(|e| e.kind == "receipt").unwrap();
        assert_eq!(line.detail["raw_text"], raw_text.as_str());
        assert!(!line.detail.to_string().contains("123456"), "{history:?}");
    }
}

#[tokio::test]
async fn a_receipt_stored_before_its_response_is_redacted_when_it_is_linked() {
    let f = Fixture::new().await;
    let id = f.accept(2, TextStore::Nostore).await;
    let jobs = f.claim_whole(T0, 10).await;
    f.receipt("B2", &receipt_text("B2"), T0 + 500).await;
    // Whose it is cannot be known yet: kept as received while pending.
    assert!(f.stored_receipts().await[0].0.contains(SECRET));
    f.submitted(&jobs, accepted("B2"), T0 + 1_000).await;
    assert_eq!(f.status(&id).await, Status::Delivered);
    let (raw_text, tlvs) = &f.stored_receipts().await[0];
    assert!(raw_text.ends_with("text:"), "{raw_text}");
    assert!(!tlvs.to_string().contains(&hex(b"123456")), "{tlvs}");
    let history = f.store.history(&id).await.unwrap();
    assert!(!format!("{history:?}").contains("123456"));
}

#[tokio::test]
async fn receipts_of_a_plaintext_message_are_kept_as_received() {
    let f = Fixture::new().await;
    f.accept(1, TextStore::Plaintext).await;
    let jobs = f.claim_whole(T0, 10).await;
    f.submitted(&jobs, accepted("C3"), T0 + 1_000).await;
    f.receipt("C3", &receipt_text("C3"), T0 + 2_000).await;
    let (raw_text, tlvs) = &f.stored_receipts().await[0];
    assert_eq!(raw_text, &receipt_text("C3"));
    assert_eq!(tlvs[1]["value"], hex(receipt_text("C3").as_bytes()));
}
