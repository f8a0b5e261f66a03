//! An SQL client on the cbreak terminal screen: every line typed is a query
//! run on a connection pool while you keep typing; each result appears at
//! the top of the screen as it completes, in whatever order the queries
//! finish, and the input line at the bottom is never broken up.
//!
//! Ports seed 000 (`000_64d4e01f706e344e.txt`), the last listing of the
//! terminal part, "a more realistic example with an asynchronous SQL
//! client": `run_query(query, pool, message_store)` takes a connection with
//! `pool.acquire()`, fetches the rows and appends "selected N rows" or the
//! exception to the `MessageStore`; `main` sets up the screen of listing 27,
//! opens `asyncpg.create_pool(..., min_size=6, max_size=6)` and does
//! `asyncio.create_task(run_query(...))` for every line `read_line` returns.
//! asyncpg and PostgreSQL became embedded SQLite (rusqlite, `bundled`), so
//! it runs anywhere with nothing to install.
//!
//! The screen is listing 27's (`delay_terminal.rs`): examples are
//! standalone, so the cursor helpers, cbreak mode, `MessageStore`,
//! `redraw_output` and the `read_line` editor are a compact copy of that
//! file's, changed only in the prompt (`sql> `) and in reading a typed or
//! pasted Tab as a space.
//!
//! | asyncio / asyncpg                          | aio / rusqlite                        |
//! |--------------------------------------------|---------------------------------------|
//! | `asyncpg.create_pool(min_size=6, max_size=6)` | [`Pool`]: 6 `rusqlite::Connection`s (Send, not Sync), opened on the blocking pool |
//! | `async with pool.acquire() as connection`  | [`Pool::acquire`] waits on the loop (an [`aio::sync::Event`]) until a connection is free; [`Pool::release`] gives it back |
//! | `await connection.fetch(query)`            | [`aio::spawn_blocking`]: the connection moves to a pool thread, steps through the rows, and comes back with the count |
//! | `asyncio.create_task(run_query(...))`      | [`aio::spawn`]                        |
//! | `except Exception as e`                    | every rusqlite error (bad SQL, a missing table, a locked database, a panic) becomes a message |
//!
//! Messages are `Selected N rows by query: Q` (N rows returned, 0 for a
//! statement that returns none; Q as typed, trimmed) and
//! `Error from query: Q: MESSAGE`. One statement per line, as with asyncpg's
//! prepared statements: `SELECT 1; SELECT 2` is an error.
//!
//! What the seed leaves out, added here:
//!
//! - **A database to query.** `--db PATH` (default `aio-products.db` in the
//!   temporary directory); a new, empty database gets a demo `products`
//!   table of 4000 rows, generated the same way every time. A database
//!   that has tables already is used as it is. WAL journaling lets readers
//!   run while another connection writes; a writer waits up to 5 s for the
//!   lock, then reports `database is locked`.
//! - **Slow queries without burning a core.** Each connection has a
//!   `pg_sleep(seconds)` function (at most 60 s), named after PostgreSQL's:
//!   `SELECT pg_sleep(3), count(*) FROM products` really sleeps, on its pool
//!   thread, and really counts. Type it a few times, then a quick query:
//!   the quick one answers first; a seventh slow one waits for a free
//!   connection (`--pool N` changes the 6).
//! - **Clean connections.** A connection left inside a transaction (`BEGIN`
//!   typed alone) is rolled back when it is released, as asyncpg's pool
//!   resets a connection, so it holds no lock another query waits for.
//! - **Leaving.** Ctrl-D or Ctrl-C restores the terminal and exits; queries
//!   still running are abandoned (SQLite's journal keeps the file sound).
//! - **Scripts.** When stdin or stdout is not a terminal it runs in plain
//!   line mode: lines read with [`aio::streams::stdin`] (Tabs kept), one
//!   message per line on stdout as each query completes, and at EOF it
//!   waits for the queries still running, then exits 0.
//!
//! Try it:
//!
//! ```text
//! cargo run -p aio --example sql_terminal                  # SELECT * FROM products; Ctrl-D leaves
//! cargo run -p aio --example sql_terminal -- --db /tmp/shop.db --pool 2
//! printf 'SELECT * FROM products;\nbad sql\n' | cargo run -p aio --example sql_terminal
//! printf 'SELECT pg_sleep(1);\nSELECT count(*) FROM products\n' | cargo run -p aio --example sql_terminal
//! ```

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io::{self, IsTerminal, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::rc::Rc;
use std::time::Duration;

use aio::signal::{Signal, Signals};
use aio::streams::{StreamError, StreamReader};
use aio::sync::Event;
use futures_util::future::{select, Either};
use rusqlite::functions::FunctionFlags;
use rusqlite::{Connection, TransactionBehavior};

/// Connections in the pool unless `--pool` says otherwise (the seed's
/// `min_size=6, max_size=6`).
const DEFAULT_POOL: usize = 6;

/// The largest `--pool`; more would only wait for blocking-pool threads.
const MAX_POOL: usize = 32;

/// The file used unless `--db` says otherwise, in the temporary directory.
const DEFAULT_DB: &str = "aio-products.db";

/// Rows in the demo `products` table.
const DEMO_ROWS: u32 = 4000;

/// The longest `pg_sleep`, in seconds.
const MAX_SLEEP: f64 = 60.0;

/// Shown before the input line.
const PROMPT: &str = "sql> ";

/// Tab types a space: pasted SQL is often indented.
const TAB_AS_SPACE: bool = true;

// The screen is listing 27's, shared with delay_terminal.rs.
#[path = "shared/terminal.rs"]
mod terminal;

use terminal::*;

// =====================================================================
// The pool (the seed's `asyncpg.create_pool`), on SQLite.
// =====================================================================

/// A fixed set of connections. It lives on the loop's thread; a connection
/// leaves it for the length of one query, moved to a blocking-pool thread
/// (a `Connection` is `Send` but not `Sync`: one thread at a time).
struct Pool {
    /// The connections not running a query.
    idle: RefCell<Vec<Connection>>,
    /// Set when a connection comes back; waiters look at `idle` again.
    released: Event,
}

impl Pool {
    fn new(connections: Vec<Connection>) -> Pool {
        Pool {
            idle: RefCell::new(connections),
            released: Event::new(),
        }
    }

    /// `pool.acquire()`: a free connection, waiting (on the loop, not on a
    /// thread) while all of them are busy.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: a connection is taken only when it is returned.
    async fn acquire(&self) -> Connection {
        loop {
            if let Some(connection) = self.idle.borrow_mut().pop() {
                return connection;
            }
            // No await between looking and waiting: no release can slip in.
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

/// Opens `size` connections to `path` (the blocking part of
/// `create_pool`, run on a pool thread). True when it created the demo
/// table.
fn open_pool(path: &Path, size: usize) -> rusqlite::Result<(Vec<Connection>, bool)> {
    let mut first = open_connection(path)?;
    let created = prepare_database(&mut first)?;
    let mut connections = vec![first];
    for _ in 1..size {
        connections.push(open_connection(path)?);
    }
    Ok((connections, created))
}

/// One connection: waits up to 5 s for another one's write lock, and
/// knows `pg_sleep`.
fn open_connection(path: &Path) -> rusqlite::Result<Connection> {
    let connection = Connection::open(path)?;
    connection.busy_timeout(Duration::from_secs(5))?;
    connection.create_scalar_function("pg_sleep", 1, FunctionFlags::SQLITE_UTF8, |ctx| {
        let seconds: f64 = ctx.get(0)?;
        if !(0.0..=MAX_SLEEP).contains(&seconds) {
            let message = format!("pg_sleep takes 0 to {MAX_SLEEP} seconds, not {seconds}");
            return Err(rusqlite::Error::UserFunctionError(message.into()));
        }
        std::thread::sleep(Duration::from_secs_f64(seconds));
        Ok(rusqlite::types::Null)
    })?;
    Ok(connection)
}

/// Turns on WAL (readers go on while a connection writes) and, in a
/// database without any table, creates and fills the demo `products`
/// table. True when it did.
fn prepare_database(connection: &mut Connection) -> rusqlite::Result<bool> {
    // Answers with the mode it got; a read-only file keeps its own.
    let _ = connection.query_row("PRAGMA journal_mode = WAL", [], |row| {
        row.get::<_, String>(0)
    });
    let is_empty = |connection: &Connection| {
        connection
            .query_row("SELECT count(*) FROM sqlite_master", [], |row| {
                row.get::<_, i64>(0)
            })
            .map(|objects| objects == 0)
    };
    if !is_empty(connection)? {
        return Ok(false);
    }
    // Write-locked, then looked at again: another process may be here too.
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if !is_empty(&transaction)? {
        return Ok(false);
    }
    transaction.execute_batch(
        "CREATE TABLE products (
             product_id   INTEGER PRIMARY KEY,
             product_name TEXT NOT NULL,
             brand        TEXT NOT NULL,
             color        TEXT NOT NULL,
             size         TEXT NOT NULL,
             price_cents  INTEGER NOT NULL
         );
         CREATE INDEX products_brand ON products (brand);",
    )?;
    {
        let mut insert = transaction.prepare(
            "INSERT INTO products (product_id, product_name, brand, color, size, price_cents)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for p in demo_products() {
            insert.execute((p.id, p.name, p.brand, p.color, p.size, p.price_cents))?;
        }
    }
    transaction.commit()?;
    Ok(true)
}

/// A row of the demo table.
struct Product {
    id: u32,
    name: String,
    brand: &'static str,
    color: &'static str,
    size: &'static str,
    price_cents: i64,
}

/// [`DEMO_ROWS`] products from a fixed-seed generator (an LCG), so every
/// new database holds the same ones.
fn demo_products() -> impl Iterator<Item = Product> {
    const BRANDS: [&str; 8] = [
        "Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark", "Wayne", "Tyrell",
    ];
    const STYLES: [&str; 8] = [
        "Classic", "Light", "Warm", "Slim", "Rugged", "Soft", "Sport", "Travel",
    ];
    const KINDS: [&str; 10] = [
        "shirt", "jacket", "hat", "scarf", "boots", "gloves", "socks", "jeans", "hoodie", "belt",
    ];
    const COLORS: [&str; 6] = ["black", "white", "red", "blue", "green", "grey"];
    const SIZES: [&str; 5] = ["XS", "S", "M", "L", "XL"];
    let mut state: u64 = 0x5eed;
    let mut next = move |n: usize| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        // The high bits are the random ones; n is small, so this fits.
        (state >> 33) as usize % n
    };
    (1..=DEMO_ROWS).map(move |id| {
        let brand = BRANDS[next(BRANDS.len())];
        let name = format!(
            "{brand} {} {}",
            STYLES[next(STYLES.len())],
            KINDS[next(KINDS.len())]
        );
        Product {
            id,
            name,
            brand,
            color: COLORS[next(COLORS.len())],
            size: SIZES[next(SIZES.len())],
            price_cents: 499 + 100 * next(200) as i64,
        }
    })
}

// =====================================================================
// The queries (the seed's `run_query`), and main.
// =====================================================================

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

/// An error as one line; SQLite's own message, without rusqlite's copy of
/// the query.
fn describe(err: &rusqlite::Error) -> String {
    let text = match err {
        rusqlite::Error::SqlInputError { msg, offset, .. } => format!("{msg} at offset {offset}"),
        err => err.to_string(),
    };
    text.replace(['\r', '\n'], " ")
}

/// The seed's `run_query`: takes a connection, runs the query on a
/// blocking-pool thread, gives the connection back, reports.
async fn run_query(query: String, pool: Rc<Pool>, messages: Rc<MessageStore>) {
    let connection = pool.acquire().await;
    let sql = query.clone();
    let job = aio::spawn_blocking(move || {
        // Caught here rather than by `spawn_blocking`, so the connection
        // comes back even then.
        let result = match catch_unwind(AssertUnwindSafe(|| fetch_count(&connection, &sql))) {
            Ok(result) => result.map_err(|err| describe(&err)),
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
        Err(err) => Err(err.to_string()), // not expected: the pool is one connection short
    };
    messages.append(match result {
        Ok(count) => format!("Selected {count} rows by query: {query}"),
        Err(message) => format!("Error from query: {query}: {message}"),
    });
}

/// A line of input.
enum Line {
    /// A line, as typed.
    Text(String),
    /// A line longer than the stdin reader's limit (plain mode), dropped.
    TooLong,
}

/// Where the lines come from.
enum Input {
    /// The screen's line editor.
    Screen {
        stdin_reader: StreamReader,
        editor: Rc<RefCell<LineEditor>>,
        screen: Screen,
    },
    /// Plain lines (`readline`), for pipes and files.
    Plain {
        stdin_reader: StreamReader,
        /// Set while dropping the rest of a line longer than the limit.
        skipping: bool,
    },
}

impl Input {
    /// The next line; `None` at Ctrl-D or EOF.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe on the screen (see [`read_line`]); only the screen's
    /// input is ever cancelled.
    async fn next_line(&mut self) -> io::Result<Option<Line>> {
        let (stdin_reader, skipping) = match self {
            Input::Screen {
                stdin_reader,
                editor,
                screen,
            } => {
                let line = read_line(stdin_reader, editor, Some(screen)).await?;
                return Ok(line.map(Line::Text));
            }
            Input::Plain {
                stdin_reader,
                skipping,
            } => (stdin_reader, skipping),
        };
        loop {
            match stdin_reader.readline().await {
                Ok(line) if line.is_empty() => return Ok(None), // EOF
                Ok(line) => {
                    if std::mem::take(skipping) {
                        continue; // the end of an over-long line
                    }
                    return Ok(Some(Line::Text(
                        String::from_utf8_lossy(&line).into_owned(),
                    )));
                }
                Err(StreamError::LimitOverrun(err)) => {
                    stdin_reader.readexactly(err.consumed).await?;
                    if !std::mem::replace(skipping, true) {
                        return Ok(Some(Line::TooLong));
                    }
                }
                Err(err) => return Err(err.into()),
            }
        }
    }
}

/// The seed's `while True: query = await read_line(...);
/// create_task(run_query(...))`, until Ctrl-D or EOF. Returns the queries
/// still running.
async fn query_loop(
    input: &mut Input,
    pool: &Rc<Pool>,
    messages: &Rc<MessageStore>,
) -> io::Result<Vec<aio::Task<()>>> {
    let mut queries = Vec::new();
    while let Some(line) = input.next_line().await? {
        let query = match &line {
            Line::Text(text) => text.trim(),
            Line::TooLong => {
                messages.append("Error from query: (a line over 64 KiB): not run".to_owned());
                continue;
            }
        };
        if query.is_empty() {
            continue;
        }
        queries.retain(|task: &aio::Task<()>| !task.is_finished());
        queries.push(aio::spawn(run_query(
            query.to_owned(),
            pool.clone(),
            messages.clone(),
        )));
    }
    Ok(queries)
}

/// The SQL screen on a terminal; `notes` are its first messages.
async fn run_screen(pool: Rc<Pool>, notes: Vec<String>) -> io::Result<()> {
    // Hooked before cbreak, so no Ctrl-C can kill us with the terminal
    // left in cbreak mode.
    let mut signals = Signals::new(&[Signal::Int, Signal::Term, Signal::Hup, Signal::Quit])?;
    let _cbreak = Cbreak::enter()?;

    let screen = Screen {
        size: Rc::new(Cell::new(terminal_size())),
    };
    let (rows, columns) = screen.size.get();
    let mut frame = String::new();
    clear_screen(&mut frame);
    flush_frame(&frame);

    let size = screen.size.clone();
    let messages = Rc::new(MessageStore::new(
        move |items| redraw_output(items, size.get().1),
        usize::from(rows - 1),
    ));
    let editor = Rc::new(RefCell::new(LineEditor::default()));
    editor.borrow().render(rows, columns);
    for note in notes {
        messages.append(note);
    }

    // A new window size: clear, then redraw the messages and the input line.
    let _winch = {
        let (screen, messages, editor) = (screen.clone(), messages.clone(), editor.clone());
        aio::signal::add_handler(Signal::Winch, move || {
            let (rows, columns) = terminal_size();
            screen.size.set((rows, columns));
            let mut frame = String::new();
            clear_screen(&mut frame);
            flush_frame(&frame);
            editor.borrow().render(rows, columns);
            messages.resize(usize::from(rows - 1));
        })?
    };

    let mut input = Input::Screen {
        stdin_reader: aio::streams::stdin()?,
        editor,
        screen,
    };
    let queries = query_loop(&mut input, &pool, &messages);
    match first(queries, signals.recv()).await {
        Either::Left(result) => result.map(drop), // Ctrl-D: queries still running are abandoned
        Either::Right(_) => Ok(()),               // Ctrl-C and friends
    }
    // `_cbreak` drops here: the terminal is restored.
}

/// Plain line mode, for pipes and files: one message per line, and at EOF
/// the queries still running are waited for.
async fn run_lines(pool: Rc<Pool>) -> io::Result<()> {
    let messages = Rc::new(MessageStore::new(
        |items| {
            if let Some(newest) = items.back() {
                // Not `println!`, which panics once a reader like `head` has gone.
                let _ = writeln!(io::stdout(), "{newest}");
            }
        },
        1,
    ));
    let mut input = Input::Plain {
        stdin_reader: aio::streams::stdin()?,
        skipping: false,
    };
    let queries = query_loop(&mut input, &pool, &messages).await?;
    for task in queries {
        let _ = task.await;
    }
    Ok(())
}

/// Whichever of `a` and `b` finishes first.
async fn first<A: Future, B: Future>(a: A, b: B) -> Either<A::Output, B::Output> {
    match select(pin!(a), pin!(b)).await {
        Either::Left((a, _)) => Either::Left(a),
        Either::Right((b, _)) => Either::Right(b),
    }
}

/// The command line.
struct Args {
    /// `--db PATH`.
    db: PathBuf,
    /// `--pool N`.
    pool: usize,
}

const USAGE: &str = "usage: sql_terminal [--db PATH] [--pool N]";

/// `--db PATH` and `--pool N` (also as `--db=PATH`, `--pool=N`).
fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut parsed = Args {
        db: std::env::temp_dir().join(DEFAULT_DB),
        pool: DEFAULT_POOL,
    };
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => {
                (name.to_owned(), Some(value.to_owned()))
            }
            _ => (arg, None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or(format!("{name} needs a value"))
        };
        match name.as_str() {
            "--db" => parsed.db = PathBuf::from(value()?),
            "--pool" => {
                let text = value()?;
                parsed.pool = match text.parse() {
                    Ok(n @ 1..=MAX_POOL) => n,
                    _ => return Err(format!("--pool takes 1 to {MAX_POOL}, not {text}")),
                };
            }
            "-h" | "--help" => return Err(String::new()),
            _ => return Err(format!("unknown argument {name}")),
        }
    }
    Ok(parsed)
}

/// Opens the pool, then runs the screen or plain lines.
async fn run(args: Args) -> io::Result<()> {
    let (path, size) = (args.db.clone(), args.pool);
    let (connections, created) = aio::spawn_blocking(move || open_pool(&path, size))
        .await
        .map_err(io::Error::other)?
        .map_err(|err| {
            let (path, message) = (args.db.display().to_string(), describe(&err));
            match message.contains(&path) {
                true => io::Error::other(message),
                false => io::Error::other(format!("{path}: {message}")),
            }
        })?;
    let pool = Rc::new(Pool::new(connections));
    let created = created.then(|| {
        format!(
            "Created the demo table products ({DEMO_ROWS} rows) in {}",
            args.db.display()
        )
    });

    if io::stdin().is_terminal() && io::stdout().is_terminal() {
        let mut notes = Vec::from_iter(created);
        notes.push(format!("{}, {size} connections", args.db.display()));
        notes.push("Enter runs a query; SELECT pg_sleep(3) is slow; Ctrl-D leaves".to_owned());
        run_screen(pool, notes).await
    } else {
        if let Some(note) = created {
            eprintln!("sql_terminal: {note}");
        }
        run_lines(pool).await
    }
}

#[aio::main]
async fn main() {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(message) => {
            if message.is_empty() {
                println!("{USAGE}");
                return;
            }
            eprintln!("sql_terminal: {message}\n{USAGE}");
            std::process::exit(2);
        }
    };
    if let Err(err) = run(args).await {
        eprintln!("sql_terminal: {err}");
        std::process::exit(1);
    }
}
