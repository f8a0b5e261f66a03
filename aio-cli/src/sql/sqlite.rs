//! The SQLite backend (the default): embedded rusqlite, nothing to install.
//!
//! A rusqlite `Connection` is `Send` but not `Sync`, so a connection
//! leaves the pool for one query, moves to a thread of aio's blocking pool
//! ([`aio::spawn_blocking`]), runs there, and comes back; the loop only
//! awaits. WAL journaling lets readers go on while a connection writes; a
//! writer waits up to 5 s for another's lock, then reports
//! `database is locked`. Every connection knows `pg_sleep(seconds)` (at
//! most 60), named after PostgreSQL's, so a slow query can be typed.

use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::functions::FunctionFlags;
use rusqlite::Connection;

use super::pool::Pool;
use super::{demo, Backend, Opened};

/// The longest `pg_sleep`, in seconds.
const MAX_SLEEP: f64 = 60.0;

/// How long a writer waits for another connection's lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A pool of SQLite connections to one database file.
pub(super) struct Sqlite {
    /// The connections, each on the loop's thread while it runs no query.
    pool: Pool<Connection>,
}

/// Opens `size` connections to `db` (off the loop), creating the demo
/// table in a database without any table.
///
/// # Errors
///
/// When the file cannot be opened or the demo table cannot be created;
/// the message names the file.
pub(super) async fn open(db: PathBuf, size: usize) -> io::Result<Opened<Sqlite>> {
    let path = db.clone();
    let opened = aio::spawn_blocking(move || open_pool(&path, size))
        .await
        .map_err(io::Error::other)?;
    let (connections, created) = opened.map_err(|e| {
        let (path, message) = (db.display().to_string(), describe(&e));
        // SQLite names the file in some messages, not in others.
        match message.contains(&path) {
            true => io::Error::other(message),
            false => io::Error::other(format!("{path}: {message}")),
        }
    })?;
    Ok(Opened {
        backend: Sqlite {
            pool: Pool::new(connections),
        },
        place: db.display().to_string(),
        created,
        warnings: Vec::new(),
    })
}

impl Backend for Sqlite {
    /// Takes a connection, runs the query on a blocking-pool thread, gives
    /// the connection back.
    async fn query(&self, query: &str) -> Result<usize, String> {
        let connection = self.pool.acquire().await;
        let sql = query.to_owned();
        let job = aio::spawn_blocking(move || {
            // Caught here rather than by `spawn_blocking`, so the
            // connection comes back even then.
            let result = match catch_unwind(AssertUnwindSafe(|| fetch_count(&connection, &sql))) {
                Ok(result) => result.map_err(|e| describe(&e)),
                Err(_) => Err("the query panicked".to_owned()),
            };
            // A `BEGIN` left open would hold its locks: reset, like
            // asyncpg's pool does on release.
            if !connection.is_autocommit() {
                let _ = connection.execute_batch("ROLLBACK");
            }
            (connection, result)
        });
        match job.await {
            Ok((connection, result)) => {
                self.pool.release(connection);
                result
            }
            // Only if the loop is closing: the connection is lost with it.
            Err(e) => Err(e.to_string()),
        }
    }
}

/// Runs one statement and counts the rows it returns: asyncpg's
/// `fetch(query)`, keeping only `len(result)`. A statement that returns
/// none (`CREATE`, `INSERT`, ...) counts 0.
fn fetch_count(connection: &Connection, query: &str) -> rusqlite::Result<usize> {
    let mut statement = connection.prepare(query)?;
    if statement.expanded_sql().is_none() {
        return Ok(0); // only comments or `;`: PostgreSQL's empty query, no rows
    }
    let mut rows = statement.query([])?;
    let mut count = 0;
    while rows.next()?.is_some() {
        count += 1;
    }
    Ok(count)
}

/// An error as one line: SQLite's own message, without rusqlite's copy of
/// the query.
fn describe(err: &rusqlite::Error) -> String {
    let text = match err {
        rusqlite::Error::SqlInputError { msg, offset, .. } => format!("{msg} at offset {offset}"),
        err => err.to_string(),
    };
    text.replace(['\r', '\n'], " ")
}

/// Opens `size` connections to `path` (the blocking part of
/// `create_pool`, run on a pool thread). True when it created the demo
/// table.
fn open_pool(path: &Path, size: usize) -> rusqlite::Result<(Vec<Connection>, bool)> {
    let mut first = open_connection(path)?;
    let created = demo::create_in_sqlite(&mut first)?;
    let mut connections = vec![first];
    for _ in 1..size {
        connections.push(open_connection(path)?);
    }
    Ok((connections, created))
}

/// One connection: waits for another one's write lock, and knows
/// `pg_sleep`.
fn open_connection(path: &Path) -> rusqlite::Result<Connection> {
    let connection = Connection::open(path)?;
    connection.busy_timeout(BUSY_TIMEOUT)?;
    connection.create_scalar_function("pg_sleep", 1, FunctionFlags::SQLITE_UTF8, |ctx| {
        let seconds: f64 = ctx.get(0)?;
        if !(0.0..=MAX_SLEEP).contains(&seconds) {
            let message = format!("pg_sleep takes 0 to {MAX_SLEEP} seconds, not {seconds}");
            return Err(rusqlite::Error::UserFunctionError(message.into()));
        }
        std::thread::sleep(Duration::from_secs_f64(seconds.abs()));
        Ok(rusqlite::types::Null)
    })?;
    Ok(connection)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_counted_and_errors_are_one_line() {
        let connection = open_connection(Path::new(":memory:")).unwrap();
        assert_eq!(fetch_count(&connection, "CREATE TABLE t (x)").unwrap(), 0);
        let insert = "INSERT INTO t VALUES (1), (2), (3)";
        assert_eq!(fetch_count(&connection, insert).unwrap(), 0);
        assert_eq!(fetch_count(&connection, "SELECT * FROM t;").unwrap(), 3);
        assert_eq!(fetch_count(&connection, "-- nothing").unwrap(), 0);
        assert_eq!(fetch_count(&connection, "SELECT pg_sleep(0)").unwrap(), 1);
        let err = fetch_count(&connection, "SELEC\n1").unwrap_err();
        assert!(!describe(&err).contains('\n'), "{}", describe(&err));
        assert!(fetch_count(&connection, "SELECT 1; SELECT 2").is_err());
        assert!(fetch_count(&connection, "SELECT pg_sleep(-1)").is_err());
    }
}
