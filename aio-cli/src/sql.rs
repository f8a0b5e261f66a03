//! `aio sql`: the seed's SQL client. Every line typed is a query, run on a
//! connection pool while more are typed; each result is reported as it
//! completes, in whatever order the queries finish:
//! `Selected N rows by query: Q` or `Error from query: Q: MESSAGE`.
//!
//! The seed used asyncpg and PostgreSQL; here the database is embedded
//! SQLite (rusqlite), so it runs with nothing to install:
//!
//! - **The pool** is `--pool` connections (the seed's `min_size=6,
//!   max_size=6`). A rusqlite `Connection` is `Send` but not `Sync`, so a
//!   connection leaves the pool for one query, moves to a thread of aio's
//!   blocking pool ([`aio::spawn_blocking`]), runs there, and comes back;
//!   the loop only awaits. A query that finds every connection busy waits
//!   on the loop ([`aio::sync::Event`]), not on a thread.
//! - **The database** is `--db PATH` (by default `aio-products.db` in the
//!   temporary directory). One without any table gets the demo `products`
//!   table ([`demo`]); one with tables is used as it is. WAL journaling lets
//!   readers go on while a connection writes; a writer waits up to 5 s for
//!   another's lock, then reports `database is locked`.
//! - **Slow queries** to watch the concurrency: every connection knows
//!   `pg_sleep(seconds)` (at most 60), named after PostgreSQL's.
//!   `SELECT pg_sleep(3), count(*) FROM products` sleeps on its pool
//!   thread; a quick query typed after it answers first.
//! - **Clean connections**: a transaction left open (`BEGIN` typed alone)
//!   is rolled back when the connection comes back, as asyncpg's pool
//!   resets a connection, so it holds no lock another query waits for.
//!
//! One statement per line, as with asyncpg's prepared statements:
//! `SELECT 1; SELECT 2` is an error. PostgreSQL (`--postgres URL`) is not
//! built yet.

mod demo;

use std::cell::RefCell;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::rc::Rc;
use std::time::Duration;

use aio::sync::Event;
use rusqlite::functions::FunctionFlags;
use rusqlite::Connection;

use crate::cli::SqlArgs;
use crate::terminal::{self, Input, Messages, Settings};

/// The largest `--pool`: beyond it queries would only queue for the
/// blocking pool's threads, holding connections that do nothing.
const MAX_POOL: usize = 32;

/// The database used unless `--db` says otherwise, in the temporary
/// directory.
const DEFAULT_DB: &str = "aio-products.db";

/// The longest `pg_sleep`, in seconds.
const MAX_SLEEP: f64 = 60.0;

/// How long a writer waits for another connection's lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The screen's look.
const SETTINGS: Settings = Settings {
    prompt: "sql> ",
    tab_as_space: true,
};

/// Runs `aio sql` and returns the exit status.
pub(crate) fn run(args: SqlArgs) -> ExitCode {
    if args.postgres.is_some() {
        eprintln!("aio sql: PostgreSQL support is not built yet; use --db PATH for SQLite");
        return ExitCode::from(2);
    }
    if args.pool > MAX_POOL {
        eprintln!("aio sql: --pool takes 1 to {MAX_POOL}, not {}", args.pool);
        return ExitCode::from(2);
    }
    let db = args
        .db
        .unwrap_or_else(|| std::env::temp_dir().join(DEFAULT_DB));
    match aio::run(session(db, args.pool)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("aio sql: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Opens the pool, then runs the terminal (or plain lines), a query task
/// per line.
async fn session(db: PathBuf, size: usize) -> io::Result<()> {
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
    let pool = Rc::new(Pool::new(connections));

    let mut notes = Vec::new();
    if created {
        let note = format!(
            "Created the demo table products ({} rows) in {}",
            demo::ROWS,
            db.display()
        );
        if !terminal::is_interactive() {
            tracing::info!("{note}");
        }
        notes.push(note);
    }
    notes.push(format!("{}, {size} connections", db.display()));
    notes.push("Enter runs a query; SELECT pg_sleep(3) is slow; Ctrl-D leaves".to_owned());

    terminal::run(SETTINGS, notes, |input, messages| {
        let Input::Line(query) = input else {
            messages.append("Error from query: (a line over 64 KiB): not run".to_owned());
            return None;
        };
        Some(aio::spawn(run_query(
            query.to_owned(),
            pool.clone(),
            messages.clone(),
        )))
    })
    .await
}

/// A fixed set of connections (the seed's asyncpg pool). It lives on the
/// loop's thread; a connection leaves it for the length of one query.
struct Pool {
    /// The connections not running a query.
    idle: RefCell<Vec<Connection>>,
    /// Set when a connection comes back, so waiters look at `idle` again.
    released: Event,
}

impl Pool {
    /// A pool of `connections`, all idle.
    fn new(connections: Vec<Connection>) -> Pool {
        Pool {
            idle: RefCell::new(connections),
            released: Event::new(),
        }
    }

    /// `pool.acquire()`: a free connection, waiting on the loop while all
    /// of them are busy.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: a connection is taken only when it is returned.
    async fn acquire(&self) -> Connection {
        loop {
            if let Some(connection) = self.idle.borrow_mut().pop() {
                return connection;
            }
            // No await between looking and waiting: no release slips in.
            self.released.clear();
            self.released.wait().await;
        }
    }

    /// Gives a connection back and wakes the queries waiting for one.
    fn release(&self, connection: Connection) {
        self.idle.borrow_mut().push(connection);
        self.released.set();
    }
}

/// The seed's `run_query`: takes a connection, runs the query on a
/// blocking-pool thread, gives the connection back, reports.
async fn run_query(query: String, pool: Rc<Pool>, messages: Messages) {
    let connection = pool.acquire().await;
    let sql = query.clone();
    let job = aio::spawn_blocking(move || {
        // Caught here rather than by `spawn_blocking`, so the connection
        // comes back even then.
        let result = match catch_unwind(AssertUnwindSafe(|| fetch_count(&connection, &sql))) {
            Ok(result) => result.map_err(|e| describe(&e)),
            Err(_) => Err("the query panicked".to_owned()),
        };
        // A `BEGIN` left open would hold its locks: reset, like asyncpg's
        // pool does on release.
        if !connection.is_autocommit() {
            let _ = connection.execute_batch("ROLLBACK");
        }
        (connection, result)
    });
    let result = match job.await {
        Ok((connection, result)) => {
            pool.release(connection);
            result
        }
        // Only if the loop is closing: the connection is lost with it.
        Err(e) => Err(e.to_string()),
    };
    messages.append(match result {
        Ok(count) => format!("Selected {count} rows by query: {query}"),
        Err(message) => format!("Error from query: {query}: {message}"),
    });
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
    let created = demo::prepare(&mut first)?;
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
