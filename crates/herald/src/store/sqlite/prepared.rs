//! The writer's connection with its prepared statements kept by the address of their SQL.
//!
//! Every statement the writer runs is a `&'static str` in this module tree, so the text's
//! address and length name it: finding a statement again costs an integer hash, not a hash and
//! a comparison of its few hundred bytes of SQL. rusqlite's own cache (`prepare_cached`) did
//! that and allocated a node to give the statement back each time: the writer runs ~35
//! statements per message, and this map takes ~30,000 fewer instructions per message than
//! rusqlite's (callgrind on the store's throughput test: writer 742k → 711k).
//!
//! [`Db::prepare_cached`] has the name and the use of rusqlite's, so the store's code reads the
//! same; everything else of the connection is reached through `Deref`.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use rusqlite::{Connection, PrepFlags, Statement};

use super::handoff::{HandOff, Handed};
use super::history::Held;
use super::tally::StatusMove;
use crate::domain::Status;
use crate::store::Millis;

/// The writer's connection, as every write operation is given it.
pub(super) struct Db<'c> {
    conn: &'c Connection,
    /// Statements not in use, by (address, length) of their SQL.
    idle: RefCell<HashMap<(usize, usize), Statement<'c>, BuildHasherDefault<AddressHasher>>>,
    /// Status changes the running operation made, for the tally once it is committed.
    moves: RefCell<Vec<StatusMove>>,
    /// Where callbacks go to the worker without a claim (`handoff`).
    handoff: Arc<HandOff>,
    /// Callbacks the running operation wrote leased to the worker, for it once committed.
    handed: RefCell<Vec<Handed>>,
    /// The running operation made a callback claimable without handing it off.
    left_to_claim: Cell<bool>,
    /// The history line the running operation wrote last, not yet inserted (`history`).
    held: RefCell<Option<Held>>,
    /// Whether a receipt may be waiting for its submission's answer (`receipts`); `None`: not
    /// known, to be read. Only this connection stores receipts (the tally of statuses relies
    /// on the same), so only its own writes and rollbacks change the answer.
    pending_receipts: Cell<Option<bool>>,
}

impl<'c> Db<'c> {
    /// A connection that hands no callback off.
    #[cfg(test)]
    pub(super) fn new(conn: &'c Connection) -> Self {
        Self::with_handoff(conn, Arc::default())
    }

    pub(super) fn with_handoff(conn: &'c Connection, handoff: Arc<HandOff>) -> Self {
        Self {
            conn,
            idle: RefCell::default(),
            moves: RefCell::default(),
            handoff,
            handed: RefCell::default(),
            left_to_claim: Cell::new(false),
            held: RefCell::default(),
            pending_receipts: Cell::new(None),
        }
    }

    /// Whether a receipt may be waiting for its submission's answer; read from the database
    /// when not known.
    pub(super) fn may_have_pending_receipts(&self) -> rusqlite::Result<bool> {
        if let Some(known) = self.pending_receipts.get() {
            return Ok(known);
        }
        // The first entry of an index of pending receipts only, never a scan of all receipts.
        let any = self
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM receipts INDEXED BY receipts_pending_by_cid_exact
                                 WHERE message_id IS NULL)",
            )?
            .query_row([], |row| row.get(0))?;
        self.pending_receipts.set(Some(any));
        Ok(any)
    }

    /// Notes a receipt stored to wait for its submission's answer.
    pub(super) fn receipt_left_pending(&self) {
        self.pending_receipts.set(Some(true));
    }

    /// Forgets what is known of pending receipts, to read it again when next asked: after a
    /// rollback, which can bring back one that was applied.
    pub(super) fn forget_pending_receipts(&self) {
        self.pending_receipts.set(None);
    }

    /// After a commit: forgets what is known of pending receipts unless it is that there are
    /// none. A receipt noted as left pending may have been applied later in the same batch.
    pub(super) fn recheck_pending_receipts(&self) {
        if self.pending_receipts.get() == Some(true) {
            self.pending_receipts.set(None);
        }
    }

    /// The history line held back, for `history` alone.
    pub(super) fn held_line(&self) -> std::cell::RefMut<'_, Option<Held>> {
        self.held.borrow_mut()
    }

    /// The lease a callback claimable as it is written gets to be handed off, if it is to be.
    pub(super) fn hand_off_lease(&self) -> Option<Millis> {
        self.handoff.lease()
    }

    /// Notes a callback written leased to the worker, for it once the operation is committed.
    pub(super) fn handed_off(&self, handed: Handed) {
        self.handed.borrow_mut().push(handed);
    }

    /// The callbacks handed off since the last call.
    pub(super) fn take_handed(&self) -> Vec<Handed> {
        std::mem::take(&mut self.handed.borrow_mut())
    }

    /// Notes a callback made claimable and not handed off: a claim is to look for it.
    pub(super) fn left_to_claim(&self) {
        self.left_to_claim.set(true);
    }

    /// Whether a callback was left to a claim since the last call.
    pub(super) fn take_left_to_claim(&self) -> bool {
        self.left_to_claim.replace(false)
    }

    /// Notes that a message of `carrier` entered status `to` (from `from`; `None`: a new one).
    pub(super) fn status_moved(&self, carrier: Option<&str>, from: Option<Status>, to: Status) {
        if from != Some(to) {
            self.moves.borrow_mut().push(StatusMove {
                carrier: carrier.map(str::to_owned),
                from,
                to,
            });
        }
    }

    /// The status changes noted since the last call.
    pub(super) fn take_moves(&self) -> Vec<StatusMove> {
        std::mem::take(&mut self.moves.borrow_mut())
    }

    /// The statement for `sql`, prepared the first time. It goes back when the handle is
    /// dropped; while it is out, asking for the same SQL again prepares a second one.
    ///
    /// `'static` is what makes the address a name: a text that lives for the whole program is
    /// never freed, so its address never comes to mean other SQL.
    pub(super) fn prepare_cached(&self, sql: &'static str) -> rusqlite::Result<Prepared<'_, 'c>> {
        let key = (sql.as_ptr() as usize, sql.len());
        let found = self.idle.borrow_mut().remove(&key);
        let statement = match found {
            Some(statement) => statement,
            // Persistent: kept for the connection's life, so SQLite does not place it in the
            // connection's lookaside memory, which the statements' executions need (sixty
            // statements there sent their cursors and records to malloc: callgrind, +47k
            // instructions per message). rusqlite's own cache prepares the same way.
            None => self
                .conn
                .prepare_with_flags(sql, PrepFlags::SQLITE_PREPARE_PERSISTENT)?,
        };
        Ok(Prepared {
            db: self,
            key,
            statement: Some(statement),
        })
    }
}

impl Deref for Db<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.conn
    }
}

/// A statement on loan from [`Db`].
///
/// On return its parameters are unbound, as rusqlite's cache does: an idle statement holds no
/// copy of a message's text or ids, and a parameter some later use failed to bind reads NULL,
/// not the last message's value. (rusqlite resets a statement itself when an execution
/// finishes or its rows are dropped.)
pub(super) struct Prepared<'d, 'c> {
    db: &'d Db<'c>,
    key: (usize, usize),
    statement: Option<Statement<'c>>,
}

impl<'c> Deref for Prepared<'_, 'c> {
    type Target = Statement<'c>;

    fn deref(&self) -> &Statement<'c> {
        self.statement.as_ref().expect("present until dropped")
    }
}

impl<'c> DerefMut for Prepared<'_, 'c> {
    fn deref_mut(&mut self) -> &mut Statement<'c> {
        self.statement.as_mut().expect("present until dropped")
    }
}

impl Drop for Prepared<'_, '_> {
    fn drop(&mut self) {
        if let Some(mut statement) = self.statement.take() {
            statement.clear_bindings();
            self.db.idle.borrow_mut().insert(self.key, statement);
        }
    }
}

/// Hashes the (address, length) keys: distinct addresses of static text, so mixing the bits
/// once is enough.
#[derive(Default)]
pub(super) struct AddressHasher(u64);

impl Hasher for AddressHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u64(u64::from(byte));
        }
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }

    fn write_u64(&mut self, n: u64) {
        // A multiplicative mix (Fibonacci hashing): spreads nearby addresses over the table.
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INSERT: &str = "INSERT INTO t (v) VALUES (?)";
    const COUNT: &str = "SELECT count(*) FROM t";

    #[test]
    fn a_statement_is_prepared_once_and_reused_after_it_comes_back() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (v INTEGER)").unwrap();
        let db = Db::new(&conn);
        for v in 0..3 {
            db.prepare_cached(INSERT).unwrap().execute([v]).unwrap();
        }
        assert_eq!(db.idle.borrow().len(), 1);
        let count: i64 = db
            .prepare_cached(COUNT)
            .unwrap()
            .query_row([], |row| row.get(0))
            .unwrap();
        assert_eq!(count, 3);
        assert_eq!(db.idle.borrow().len(), 2);
    }

    #[test]
    fn the_same_sql_asked_for_while_out_gets_a_second_statement() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (v INTEGER); INSERT INTO t VALUES (1), (2);")
            .unwrap();
        let db = Db::new(&conn);
        let mut outer = db.prepare_cached("SELECT v FROM t ORDER BY v").unwrap();
        let mut rows = outer.query([]).unwrap();
        let first: i64 = rows.next().unwrap().unwrap().get(0).unwrap();
        // The same text while the first is mid-query: its own statement, its own rows.
        let again: Vec<i64> = db
            .prepare_cached("SELECT v FROM t ORDER BY v")
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        let second: i64 = rows.next().unwrap().unwrap().get(0).unwrap();
        assert_eq!((first, second), (1, 2));
        assert_eq!(again, [1, 2]);
    }
}
