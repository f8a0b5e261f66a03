//! `aio sql`: the seed's SQL client. Every line typed is a query, run on a
//! connection pool while more are typed; each result is reported as it
//! completes, in whatever order the queries finish:
//! `Selected N rows by query: Q` or `Error from query: Q: MESSAGE`.
//!
//! The front end is the same whatever the database: the terminal (or
//! plain lines) from [`crate::terminal`], a task per line, the report.
//! What differs is behind [`Backend`], which runs one query on a pooled
//! connection and counts its rows:
//!
//! - [`sqlite`] (the default): embedded SQLite, nothing to install. The
//!   database is `--db PATH` (by default `aio-products.db` in the
//!   temporary directory); a connection moves to a thread of aio's
//!   blocking pool for each query.
//! - [`postgres`] (`--postgres URL`): a PostgreSQL server, as in the seed,
//!   through tokio-postgres over aio sockets; queries wait on the loop.
//!
//! Both share:
//!
//! - **The pool** ([`pool`]): `--pool` connections (the seed's
//!   `min_size=6, max_size=6`). A query that finds every connection busy
//!   waits on the loop ([`aio::sync::Event`]), not on a thread.
//! - **The demo table** ([`demo`]): a database without any table gets the
//!   demo `products` table; one with tables is used as it is.
//! - **Slow queries** to watch the concurrency: `pg_sleep(seconds)`.
//!   `SELECT pg_sleep(3), count(*) FROM products` sleeps; a quick query
//!   typed after it answers first.
//! - **Clean connections**: a transaction left open (`BEGIN` typed alone)
//!   is rolled back when the connection comes back, as asyncpg's pool
//!   resets a connection, so it holds no lock another query waits for.
//!
//! One statement per line, as with asyncpg's prepared statements:
//! `SELECT 1; SELECT 2` is an error.

mod demo;
mod pool;
mod postgres;
mod sqlite;

use std::io;
use std::process::ExitCode;
use std::rc::Rc;

use crate::cli::SqlArgs;
use crate::terminal::{self, Input, Messages, Settings};

/// The largest `--pool`: beyond it SQLite's queries would only queue for
/// the blocking pool's threads, and PostgreSQL's would take server
/// connections (100 by default, for everyone) that do little.
const MAX_POOL: usize = 32;

/// The database used unless `--db` says otherwise, in the temporary
/// directory.
const DEFAULT_DB: &str = "aio-products.db";

/// The screen's look.
const SETTINGS: Settings = Settings {
    prompt: "sql> ",
    tab_as_space: true,
};

/// A database as the front end sees it: a pool of connections that runs
/// one query at a time on each.
trait Backend {
    /// Runs `query` (one statement) on a free connection, waiting on the
    /// loop while all are busy, and counts the rows it returns (0 for a
    /// statement that returns none).
    ///
    /// # Errors
    ///
    /// The database's message, on one line.
    async fn query(&self, query: &str) -> Result<usize, String>;

    /// Called when the session ends with queries still running (the
    /// screen was left): a server's backend cancels them, so they do not
    /// run on. An embedded database ends with the process.
    async fn close(&self) {}
}

/// An opened backend, and what the screen says about it.
struct Opened<B> {
    /// The pool, ready for queries.
    backend: B,
    /// Where the data is, for the screen: a file, or a server.
    place: String,
    /// True when the demo table was created just now.
    created: bool,
    /// What went wrong but does not stop the session (the demo table could
    /// not be created), for the screen and the log.
    warnings: Vec<String>,
}

/// Runs `aio sql` and returns the exit status.
pub(crate) fn run(args: SqlArgs) -> ExitCode {
    if args.pool > MAX_POOL {
        eprintln!("aio sql: --pool takes 1 to {MAX_POOL}, not {}", args.pool);
        return ExitCode::from(2);
    }
    let size = args.pool;
    let outcome = match args.postgres {
        Some(url) => {
            aio::run(async move { session(postgres::open(&url, size).await?, size).await })
        }
        None => {
            let db = args
                .db
                .unwrap_or_else(|| std::env::temp_dir().join(DEFAULT_DB));
            aio::run(async move { session(sqlite::open(db, size).await?, size).await })
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("aio sql: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the terminal (or plain lines) on an opened backend, a query task
/// per line.
async fn session<B: Backend + 'static>(opened: Opened<B>, size: usize) -> io::Result<()> {
    let mut notes = opened.warnings;
    let warnings = notes.len();
    if opened.created {
        notes.push(format!(
            "Created the demo table products ({} rows) in {}",
            demo::ROWS,
            opened.place
        ));
    }
    // On the screen these are its first lines; in line mode stdout holds
    // only answers, so they go to the log.
    if !terminal::is_interactive() {
        for (i, note) in notes.iter().enumerate() {
            match i < warnings {
                true => tracing::warn!("{note}"),
                false => tracing::info!("{note}"),
            }
        }
    }
    notes.push(format!("{}, {size} connections", opened.place));
    notes.push("Enter runs a query; SELECT pg_sleep(3) is slow; Ctrl-D leaves".to_owned());

    let backend = Rc::new(opened.backend);
    let ended = terminal::run(SETTINGS, notes, |input, messages| {
        let Input::Line(query) = input else {
            messages.append("Error from query: (a line over 64 KiB): not run".to_owned());
            return None;
        };
        Some(aio::spawn(report(
            query.to_owned(),
            backend.clone(),
            messages.clone(),
        )))
    })
    .await;
    backend.close().await;
    ended
}

/// The seed's `run_query`: runs the query on the pool and reports it.
async fn report<B: Backend>(query: String, backend: Rc<B>, messages: Messages) {
    messages.append(match backend.query(&query).await {
        Ok(count) => format!("Selected {count} rows by query: {query}"),
        Err(message) => format!("Error from query: {query}: {message}"),
    });
}
