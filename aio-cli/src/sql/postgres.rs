//! The PostgreSQL backend (`--postgres URL`): tokio-postgres on the aio
//! loop, with no tokio runtime. Each pooled connection is a
//! tokio-postgres `Client` whose socket is an aio stream ([`connect`]);
//! a query awaits the server on the loop, so queries on different
//! connections run at once and need no thread.
//!
//! - **Queries** go through the extended protocol, as asyncpg's `fetch`
//!   does: one statement per line (`SELECT 1; SELECT 2` is PostgreSQL's
//!   error), any kind of statement, rows counted as they arrive rather
//!   than kept. A statement that returns none (`CREATE`, `INSERT`, ...)
//!   counts 0.
//! - **Errors** are PostgreSQL's own message, with its detail and hint
//!   when it gives them, on one line.
//! - **Clean connections**: a transaction left open (`BEGIN` typed
//!   alone) is rolled back before the connection goes back to the pool,
//!   as asyncpg's pool resets a connection, so it holds no lock another
//!   query waits for. What a statement leaves in its session is undone
//!   the same way (`SET` by `RESET ALL`, `LISTEN` by `UNLISTEN *`,
//!   `PREPARE` by `DEALLOCATE ALL`): the next line may run on any
//!   connection of the pool, so a setting that lasted would apply to some
//!   later queries and not to others.
//! - **Lost connections** (the server restarted, or ended the session)
//!   are opened again by the next query that takes them from the pool; if
//!   that fails, that query reports why and the next one tries again.
//! - **Leaving** the screen while queries run cancels them on the server
//!   (as asyncpg does for a cancelled query), so a long `UPDATE` or a
//!   `pg_sleep` does not run on after the app has gone.

mod connect;
mod environment;
mod tls;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::error::Error as _;
use std::io;
use std::pin::pin;
use std::rc::Rc;
use std::time::Duration;

use futures_util::TryStreamExt;
use tokio_postgres::types::ToSql;
use tokio_postgres::Client;

use self::connect::{Canceller, Link, Target};
use super::pool::Pool;
use super::{demo, Backend, Opened};

/// How long leaving waits for the cancel requests of the queries still
/// running: they are one round trip each, but the server may be gone.
const CANCEL_GRACE: Duration = Duration::from_secs(2);

/// A pool of PostgreSQL connections to one database.
pub(super) struct Postgres {
    /// The connections; `None` is one that was lost and not opened again
    /// yet.
    pool: Pool<Option<Link>>,
    /// Where to open a lost connection again.
    target: Rc<Target>,
    /// What cancels each query running now, by query number, for
    /// [`Backend::close`].
    running: RefCell<HashMap<u64, Canceller>>,
    /// The next query's number.
    next_query: Cell<u64>,
}

/// Keeps a query's canceller in [`Postgres::running`] while it runs.
struct Running<'a> {
    /// Whose list it is in.
    backend: &'a Postgres,
    /// Its key there.
    id: u64,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.backend.running.borrow_mut().remove(&self.id);
    }
}

/// Connects `size` clients to the database at `url`, creating the demo
/// table in a database without any table of its own.
///
/// # Errors
///
/// When the URL cannot be parsed or a connection cannot be opened: one
/// line saying where and why (refused, bad password, no such database).
/// Failing to create the demo table is only a warning.
pub(super) async fn open(url: &str, size: usize) -> io::Result<Opened<Postgres>> {
    let target = Rc::new(Target::parse(url).map_err(io::Error::other)?);
    // One first, so a bad password or database is reported once, and the
    // demo table is made before any query can look for it.
    let (mut first, place) = target.connect().await.map_err(io::Error::other)?;
    let mut warnings = Vec::new();
    let created = demo::create_in_postgres(&mut first.client)
        .await
        .unwrap_or_else(|e| {
            warnings.push(format!(
                "could not create the demo table products: {}",
                describe(&e)
            ));
            false
        });
    warnings.extend(target.take_file_problem());
    // The others all at once.
    let others: Vec<_> = (1..size)
        .map(|_| {
            let target = target.clone();
            aio::spawn(async move { target.connect().await })
        })
        .collect();
    let mut links = vec![Some(first)];
    for other in others {
        let (link, _) = other
            .await
            .map_err(io::Error::other)?
            .map_err(io::Error::other)?;
        links.push(Some(link));
    }
    let place = match target.database() {
        Some(database) => format!("PostgreSQL database {database} at {place}"),
        None => format!("PostgreSQL at {place}"),
    };
    Ok(Opened {
        backend: Postgres {
            pool: Pool::new(links),
            target,
            running: RefCell::new(HashMap::new()),
            next_query: Cell::new(0),
        },
        place,
        created,
        warnings,
    })
}

impl Backend for Postgres {
    /// Takes a connection, runs the query on it, gives it back.
    async fn query(&self, query: &str) -> Result<usize, String> {
        let slot = self.pool.acquire().await;
        let (slot, result) = self.run_on(slot, query).await;
        self.pool.release(slot);
        result
    }

    /// Cancels the queries still running (the screen was left while they
    /// ran), waiting at most [`CANCEL_GRACE`] for the requests to go out.
    async fn close(&self) {
        let running: Vec<Canceller> = self.running.borrow_mut().drain().map(|(_, c)| c).collect();
        let sends: Vec<_> = running
            .into_iter()
            .map(|canceller| aio::spawn(async move { canceller.cancel().await }))
            .collect();
        let all_sent = async {
            for send in sends {
                if let Ok(Err(message)) = send.await {
                    tracing::debug!("PostgreSQL: cancelling a query: {message}");
                }
            }
        };
        let _ = aio::timeout(CANCEL_GRACE, all_sent).await;
    }
}

impl Postgres {
    /// Runs `query` on the connection in `slot` (opening it first if it
    /// was lost) and returns what goes back to the pool, and the count.
    async fn run_on(
        &self,
        slot: Option<Link>,
        query: &str,
    ) -> (Option<Link>, Result<usize, String>) {
        let link = match slot {
            Some(link) if !link.client.is_closed() => link,
            _ => match self.target.connect().await {
                Ok((link, _)) => link,
                Err(message) => return (None, Err(message)),
            },
        };
        let id = self.next_query.get();
        self.next_query.set(id + 1);
        self.running.borrow_mut().insert(id, link.canceller());
        let running = Running { backend: self, id };
        let client = &link.client;
        let result = fetch_count(client, query).await;
        drop(running);
        if let Err(e) = &result {
            if is_lost(e) {
                // The next query opens a new connection instead of trying
                // this one.
                return (None, Err(describe(e)));
            }
        }
        let result = result.map_err(|e| describe(&e));
        // Only these statements leave something behind after running
        // alone, so only they cost the extra round trip.
        let reset = if opens_transaction(query) {
            Some("ROLLBACK")
        } else {
            session_reset(query)
        };
        if let Some(reset) = reset {
            if let Err(e) = client.batch_execute(reset).await {
                tracing::debug!("PostgreSQL: {reset}: {}", describe(&e));
            }
        }
        (Some(link), result)
    }
}

/// Runs one statement and counts the rows it returns, without keeping
/// them.
async fn fetch_count(client: &Client, query: &str) -> Result<usize, tokio_postgres::Error> {
    let no_parameters: [&(dyn ToSql + Sync); 0] = [];
    let mut rows = pin!(client.query_raw(query, no_parameters).await?);
    let mut count = 0;
    while rows.try_next().await?.is_some() {
        count += 1;
    }
    Ok(count)
}

/// True when `err` ended the connection: it is closed, or the server
/// said so (`FATAL`, e.g. `terminating connection due to administrator
/// command`).
fn is_lost(err: &tokio_postgres::Error) -> bool {
    err.is_closed()
        || err
            .as_db_error()
            .is_some_and(|db| matches!(db.severity(), "FATAL" | "PANIC"))
}

/// True when `query` is `BEGIN` or `START` (`START TRANSACTION`), after
/// any spaces and comments: the statements that open a transaction block.
/// Anything else, run alone in the extended protocol, ends in the state it
/// began in, and connections come back outside a transaction.
fn opens_transaction(query: &str) -> bool {
    let word: String = skip_comments(query)
        .chars()
        .take_while(char::is_ascii_alphabetic)
        .collect();
    word.eq_ignore_ascii_case("begin") || word.eq_ignore_ascii_case("start")
}

/// The statement that undoes what `query` leaves in its session, when it
/// can leave something there: a `SET` (but not `SET LOCAL`, which ends
/// with its transaction), a `LISTEN` or a `PREPARE`.
fn session_reset(query: &str) -> Option<&'static str> {
    let mut words = skip_comments(query)
        .split(|c: char| !c.is_ascii_alphabetic())
        .filter(|w| !w.is_empty());
    let first = words.next()?;
    let is = |word: &str| first.eq_ignore_ascii_case(word);
    if is("set") {
        let local = words
            .next()
            .is_some_and(|w| w.eq_ignore_ascii_case("local"));
        (!local).then_some("RESET ALL")
    } else if is("listen") {
        Some("UNLISTEN *")
    } else if is("prepare") {
        Some("DEALLOCATE ALL")
    } else {
        None
    }
}

/// `text` after its leading spaces and comments (`-- ...` to the end of
/// the line, and `/* ... */`, which nest in PostgreSQL).
fn skip_comments(mut text: &str) -> &str {
    loop {
        text = text.trim_start();
        if let Some(rest) = text.strip_prefix("--") {
            text = rest.find('\n').map_or("", |end| &rest[end..]);
        } else if let Some(rest) = text.strip_prefix("/*") {
            let mut depth = 1;
            let mut rest = rest;
            while depth > 0 {
                let (Some(close), open) = (rest.find("*/"), rest.find("/*")) else {
                    return ""; // unterminated: PostgreSQL's error, not a BEGIN
                };
                match open {
                    Some(open) if open < close => {
                        depth += 1;
                        rest = &rest[open + 2..];
                    }
                    _ => {
                        depth -= 1;
                        rest = &rest[close + 2..];
                    }
                }
            }
            text = rest;
        } else {
            return text;
        }
    }
}

/// An error as one line: PostgreSQL's own message (with its detail and
/// hint), or tokio-postgres's words followed by their cause, such as
/// `error communicating with the server: Connection reset by peer`.
pub(super) fn describe(err: &tokio_postgres::Error) -> String {
    let text = match err.as_db_error() {
        Some(db) => {
            let mut text = db.message().to_owned();
            if let Some(detail) = db.detail() {
                text.push_str(&format!(" (DETAIL: {detail})"));
            }
            if let Some(hint) = db.hint() {
                text.push_str(&format!(" (HINT: {hint})"));
            }
            text
        }
        None => {
            let mut text = err.to_string();
            let mut cause = err.source();
            while let Some(e) = cause {
                text.push_str(&format!(": {e}"));
                cause = e.source();
            }
            text
        }
    };
    text.replace(['\r', '\n'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_begin_and_start_open_a_transaction() {
        for query in [
            "BEGIN",
            "begin;",
            "Begin Transaction Isolation Level Serializable",
            "START TRANSACTION",
            "  -- a comment\n BEGIN",
            "/* one /* nested */ comment */ begin",
        ] {
            assert!(opens_transaction(query), "{query:?}");
        }
        for query in [
            "SELECT 'BEGIN'",
            "COMMIT",
            "beginning",
            "-- BEGIN",
            "/* BEGIN",
            "/* unterminated /* */ BEGIN",
            "",
        ] {
            assert!(!opens_transaction(query), "{query:?}");
        }
    }

    #[test]
    fn set_listen_and_prepare_are_undone_and_set_local_is_not() {
        for (query, reset) in [
            ("SET search_path TO shop", Some("RESET ALL")),
            ("  /* c */ set statement_timeout = 5", Some("RESET ALL")),
            ("SET SESSION work_mem = '8MB'", Some("RESET ALL")),
            ("SET LOCAL work_mem = '8MB'", None),
            ("LISTEN orders", Some("UNLISTEN *")),
            ("prepare q AS SELECT 1", Some("DEALLOCATE ALL")),
            ("SELECT set_config('a.b', '1', true)", None),
            ("SETTLE", None),
            ("", None),
        ] {
            assert_eq!(session_reset(query), reset, "{query:?}");
        }
    }
}
