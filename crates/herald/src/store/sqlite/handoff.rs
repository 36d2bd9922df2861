//! Callbacks handed straight from the writer to this process's callback worker, without a
//! claim.
//!
//! A status change enqueues its callback in the same transaction (the outbox). The worker used
//! to find it by claiming: a query over the due callbacks joined to their messages and
//! accounts, then an update per row to lease it, all on the writer thread every write waits
//! for. Here, once a worker has claimed (so one runs in this process), a callback that is
//! claimable the moment it is written (a query-string callback with no earlier one of its
//! message still open) is written already leased to it, and after the commit its job goes to
//! an in-memory queue the worker's next claim takes from. The row is the same as a claimed
//! one's, so everything that does not go by plan (a crash, a full queue, a worker too busy to
//! take the job before half its lease is gone) ends as a claimed callback's would: the lease
//! runs out and a claim from the database finds it.
//!
//! JSON webhooks are not handed off: their job carries the account's secret and the message's
//! fields, which only the claim's join reads.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use super::codec;
use crate::store::{CallbackJob, Millis};

/// Jobs waiting for the worker at most; beyond, callbacks are left for a claim. The worker
/// takes as many as it has free slots, so a longer queue only means a busy receiver somewhere.
const CAPACITY: usize = 4096;

/// How long a claim that found handed-off jobs may skip the database: callbacks that are due
/// there (retries, ones left for a claim) wait at most this long behind a steady stream of
/// handed-off ones.
const DATABASE_EVERY: Millis = 100;

/// A job handed off, with the end of the lease its row was written with.
#[derive(Debug, Clone)]
pub(super) struct Handed {
    pub job: CallbackJob,
    pub lease_until: Millis,
}

pub(super) struct HandOff {
    /// The worker's lease in milliseconds; 0 until a worker has claimed, and nothing is
    /// handed off before.
    lease_ms: AtomicI64,
    queue: Mutex<VecDeque<Handed>>,
    /// When a claim last read the database (`Millis::MIN`: never).
    database_claimed_at: AtomicI64,
    /// Something committed is claimable in the database and was not handed off.
    database_due: AtomicBool,
    /// Jobs were handed off since the database was last read: callbacks are streaming through
    /// the queue, so a claim that finds it empty has merely taken everything.
    handed_since_read: AtomicBool,
}

impl Default for HandOff {
    fn default() -> Self {
        Self {
            lease_ms: AtomicI64::new(0),
            queue: Mutex::default(),
            database_claimed_at: AtomicI64::new(Millis::MIN),
            database_due: AtomicBool::new(false),
            handed_since_read: AtomicBool::new(false),
        }
    }
}

impl HandOff {
    /// A worker claims with `lease`: from now on callbacks are handed to it.
    pub(super) fn enable(&self, lease: Duration) {
        self.lease_ms
            .store(codec::millis(lease).max(1), Ordering::Relaxed);
    }

    /// The worker is stopping: callbacks written from now on are left for a claim, which
    /// the next start makes at once (a job handed off and not taken would wait for its lease).
    pub(super) fn disable(&self) {
        self.lease_ms.store(0, Ordering::Relaxed);
    }

    /// The lease a callback written now is handed off with, or None when it is to be left for
    /// a claim (no worker yet, or the queue is full).
    pub(super) fn lease(&self) -> Option<Millis> {
        let lease = self.lease_ms.load(Ordering::Relaxed);
        (lease > 0 && self.queue.lock().expect("hand-off queue").len() < CAPACITY).then_some(lease)
    }

    /// The jobs of a committed operation, for the worker.
    pub(super) fn deliver(&self, jobs: Vec<Handed>) {
        if !jobs.is_empty() {
            self.queue.lock().expect("hand-off queue").extend(jobs);
            self.handed_since_read.store(true, Ordering::Relaxed);
        }
    }

    /// Up to `limit` handed-off jobs, oldest first. A job with less than half its lease left is
    /// dropped instead: its attempt could outlast the lease and run beside a claim's, and a
    /// claim finds it once the lease is over.
    pub(super) fn take(&self, now: Millis, limit: usize) -> Vec<CallbackJob> {
        let margin = self.lease_ms.load(Ordering::Relaxed) / 2;
        let mut queue = self.queue.lock().expect("hand-off queue");
        let mut jobs = Vec::new();
        while jobs.len() < limit {
            let Some(handed) = queue.pop_front() else {
                break;
            };
            if handed.lease_until.saturating_sub(now) > margin {
                jobs.push(handed.job);
            }
        }
        jobs
    }

    /// A committed operation wrote a callback claimable now that it did not hand off (a JSON
    /// webhook's, one written while the queue was full or before a worker claimed): the next
    /// claim reads the database.
    pub(super) fn database_due(&self) {
        self.database_due.store(true, Ordering::Relaxed);
    }

    /// Whether a claim that took `taken` handed-off jobs of `limit` reads the database too:
    /// when there is room, and something written is waiting there, or the last look is
    /// [`DATABASE_EVERY`] old (callbacks due again after a failure, or written by another
    /// process), or it took none and nothing was handed off since the last look (the worker
    /// is not being fed through the queue: a claim is a plain claim). Noted as done when it
    /// says yes.
    ///
    /// A claim that finds the queue empty while jobs stream through it does not read the
    /// database: the worker claims each time an attempt ends, and most of those claims come
    /// between two commits, when the queue has just been emptied.
    pub(super) fn claim_database(&self, now: Millis, taken: usize, limit: usize) -> bool {
        if taken >= limit {
            return false;
        }
        let last = self.database_claimed_at.load(Ordering::Relaxed);
        let due = self.database_due.swap(false, Ordering::Relaxed)
            || now.saturating_sub(last) >= DATABASE_EVERY
            || (taken == 0 && !self.handed_since_read.load(Ordering::Relaxed));
        if due {
            self.database_claimed_at.store(now, Ordering::Relaxed);
            self.handed_since_read.store(false, Ordering::Relaxed);
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{MessageId, Report};

    fn handed(id: i64, lease_until: Millis) -> Handed {
        Handed {
            job: CallbackJob {
                id,
                message_id: MessageId::parse("abc").unwrap(),
                url: "http://example.com/dlr".into(),
                report: Report::accepted_by_carrier(),
                attempts: 0,
                enqueued_at: 0,
                webhook: None,
            },
            lease_until,
        }
    }

    #[test]
    fn nothing_is_handed_off_before_a_worker_claims() {
        let handoff = HandOff::default();
        assert_eq!(handoff.lease(), None);
        handoff.enable(Duration::from_secs(30));
        assert_eq!(handoff.lease(), Some(30_000));
    }

    #[test]
    fn a_stopping_worker_is_handed_nothing_more() {
        let handoff = HandOff::default();
        handoff.enable(Duration::from_secs(30));
        handoff.disable();
        assert_eq!(handoff.lease(), None);
    }

    #[test]
    fn jobs_come_out_in_order_and_those_past_half_their_lease_are_left_to_a_claim() {
        let handoff = HandOff::default();
        handoff.enable(Duration::from_secs(30));
        handoff.deliver(vec![
            handed(1, 40_000),
            handed(2, 20_000),
            handed(3, 45_000),
            handed(4, 50_000),
        ]);
        let ids = |jobs: Vec<CallbackJob>| jobs.iter().map(|j| j.id).collect::<Vec<_>>();
        // At 10 s: job 2 has 10 s of its 30 s lease left.
        assert_eq!(ids(handoff.take(10_000, 2)), [1, 3]);
        assert_eq!(ids(handoff.take(10_000, 10)), [4]);
        assert!(handoff.take(10_000, 10).is_empty());
    }

    #[test]
    fn a_full_queue_leaves_callbacks_to_a_claim() {
        let handoff = HandOff::default();
        handoff.enable(Duration::from_secs(30));
        handoff.deliver((0..CAPACITY as i64).map(|id| handed(id, 30_000)).collect());
        assert_eq!(handoff.lease(), None);
        handoff.take(0, 1);
        assert_eq!(handoff.lease(), Some(30_000));
    }

    #[test]
    fn the_database_is_claimed_from_unless_jobs_were_handed_off_and_it_was_just_read() {
        let handoff = HandOff::default();
        handoff.enable(Duration::from_secs(30));
        assert!(handoff.claim_database(1_000, 0, 10));
        // Nothing handed off since: an empty queue means nothing came that way.
        assert!(handoff.claim_database(1_010, 0, 10));
        handoff.deliver(vec![handed(1, 40_000)]);
        assert!(!handoff.claim_database(1_020, 1, 10));
        // Jobs stream through the queue: finding it empty is no reason to read.
        assert!(!handoff.claim_database(1_030, 0, 10));
        handoff.database_due();
        // No room: the note waits for a claim that has some.
        assert!(!handoff.claim_database(1_050, 10, 10));
        assert!(handoff.claim_database(1_050, 3, 10));
        // That read ends the stream until jobs are handed off again.
        assert!(handoff.claim_database(1_060, 0, 10));
        handoff.deliver(vec![handed(2, 40_000)]);
        assert!(!handoff.claim_database(1_070, 0, 10));
        assert!(!handoff.claim_database(1_150, 10, 10));
        assert!(handoff.claim_database(1_160, 3, 10));
    }
}
