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

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::ops::{Deref, DerefMut};

use rusqlite::{Connection, PrepFlags, Statement};

use super::tally::StatusMove;
use crate::domain::Status;

/// The writer's connection, as every write operation is given it.
pub(super) struct Db<'c> {
    conn: &'c Connection,
    /// Statements not in use, by (address, length) of their SQL.
    idle: RefCell<HashMap<(usize, usize), Statement<'c>, BuildHasherDefault<AddressHasher>>>,
    /// Status changes the running operation made, for the tally once it is committed.
    moves: RefCell<Vec<StatusMove>>,
}

impl<'c> Db<'c> {
    pub(super) fn new(conn: &'c Connection) -> Self {
        Self {
            conn,
            idle: RefCell::default(),
            moves: RefCell::default(),
        }
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
