//! Running `aio sql` in line mode (piped stdin) for the SQL tests, whatever
//! the backend: one run with all its input at once ([`run`]), or a
//! [`Session`] that sends queries and reads answers as they come.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;

pub use super::wait_with_guard;
use super::GUARD;

/// The libpq variables `aio sql` reads. The tests clear them, and point
/// `PGPASSFILE` at a file that does not exist, so a developer's own
/// settings and `~/.pgpass` do not change what a test sees.
const PG_VARIABLES: [&str; 12] = [
    "PGHOST",
    "PGHOSTADDR",
    "PGPORT",
    "PGUSER",
    "PGDATABASE",
    "PGPASSWORD",
    "PGPASSFILE",
    "PGAPPNAME",
    "PGOPTIONS",
    "PGCONNECT_TIMEOUT",
    "PGSSLMODE",
    "PGSSLROOTCERT",
];

/// Starts `aio sql ARGS` with piped stdin, stdout and stderr.
pub fn start(args: &[&str]) -> Child {
    start_with_env(args, &[])
}

/// [`start`], with these environment variables set.
pub fn start_with_env(args: &[&str], vars: &[(&str, &str)]) -> Child {
    let mut command = Command::new(env!("CARGO_BIN_EXE_aio"));
    for name in PG_VARIABLES {
        command.env_remove(name);
    }
    command.env("PGPASSFILE", "/nonexistent/aio-tests/pgpass");
    // Nor a developer's ~/.postgresql/root.crt, which would turn
    // `sslmode=require` into `verify-ca` against their own CA.
    command.env("PGSSLROOTCERT", "/nonexistent/aio-tests/root.crt");
    command
        .envs(vars.iter().copied())
        .arg("sql")
        .args(args)
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start aio sql")
}

/// Runs `aio sql ARGS` with `queries` on stdin (then EOF); returns its
/// stdout lines, stderr and exit status.
pub fn run(args: &[&str], queries: &str) -> (Vec<String>, String, ExitStatus) {
    run_with_env(args, &[], queries)
}

/// [`run`], with these environment variables set.
pub fn run_with_env(
    args: &[&str],
    vars: &[(&str, &str)],
    queries: &str,
) -> (Vec<String>, String, ExitStatus) {
    super::feed_and_wait(start_with_env(args, vars), queries.as_bytes())
}

/// Runs `queries` with `args`, checks it exits 0, and returns the
/// answers sorted (they come in the order the queries finish).
pub fn sorted_answers(args: &[&str], queries: &str) -> Vec<String> {
    let (mut lines, stderr, status) = run(args, queries);
    assert!(status.success(), "{status}: {stderr}");
    lines.sort();
    lines
}

/// The line of `lines` that starts with `prefix`; fails the test if none.
pub fn find<'a>(lines: &'a [String], prefix: &str) -> &'a str {
    lines
        .iter()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix:?} in {lines:?}"))
}

/// Sends queries to a running `aio sql` and reads its answers as they come.
pub struct Session {
    /// The app; taken when it is waited for.
    child: Option<Child>,
    /// Its stdin; dropped for EOF.
    stdin: Option<ChildStdin>,
    /// Its stdout, line by line.
    pub answers: mpsc::Receiver<String>,
}

impl Session {
    pub fn start(args: &[&str]) -> Session {
        let mut child = start(args);
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let (tx, answers) = mpsc::channel();
        thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Session {
            child: Some(child),
            stdin: Some(stdin),
            answers,
        }
    }

    pub fn send(&mut self, query: &str) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        writeln!(stdin, "{query}").expect("send a query");
    }

    /// The next answer; fails the test if none comes within the guard.
    pub fn answer(&self) -> String {
        self.answers.recv_timeout(GUARD).expect("an answer")
    }

    /// Closes stdin and waits for the app to exit.
    pub fn finish(&mut self) -> ExitStatus {
        self.stdin = None;
        let child = self.child.take().expect("not waited for yet");
        wait_with_guard(child).status
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The tests both backends must pass. `db` is the app's arguments naming
/// the database (`--db FILE` or `--postgres URL`).
pub mod common {
    use super::{sorted_answers, Session, GUARD};

    /// Thirty queries on a pool of three all get their answer.
    pub fn many_queries_on_a_small_pool_are_all_answered(db: &[&str]) {
        let queries: Vec<String> = (1..=30)
            .map(|n| format!("SELECT * FROM products WHERE product_id <= {n}"))
            .collect();
        let args = [db, &["--pool", "3"]].concat();
        let lines = sorted_answers(&args, &(queries.join("\n") + "\n"));
        let mut expected: Vec<String> = (1..=30)
            .map(|n| {
                format!(
                    "Selected {n} rows by query: SELECT * FROM products WHERE product_id <= {n}"
                )
            })
            .collect();
        expected.sort();
        assert_eq!(lines, expected);
    }

    /// Quick queries are answered while `slow` (a `pg_sleep` far longer
    /// than the guard) holds one of the pool's two connections: if the
    /// queries ran one after the other, no answer could come before the
    /// guard runs out.
    pub fn quick_queries_are_answered_while_a_slow_one_runs(db: &[&str], slow: &str) {
        let args = [db, &["--pool", "2"]].concat();
        let mut session = Session::start(&args);
        session.send(slow);
        for n in 1..=5 {
            let query = format!("SELECT * FROM products WHERE product_id <= {n}");
            session.send(&query);
            assert_eq!(
                session.answer(),
                format!("Selected {n} rows by query: {query}")
            );
        }
        // Session's drop kills the app mid-sleep.
    }

    /// EOF while `sleeping` runs: the app answers it, then exits 0.
    pub fn eof_waits_for_the_queries_still_running(db: &[&str], sleeping: &str) {
        let mut session = Session::start(db);
        session.send("SELECT 0");
        assert_eq!(session.answer(), "Selected 1 rows by query: SELECT 0");
        session.send(sleeping);
        // EOF while the query sleeps (or, on a slow machine, just after).
        let status = session.finish();
        assert!(status.success(), "{status}");
        assert_eq!(
            session.answer(),
            format!("Selected 1 rows by query: {sleeping}")
        );
        // Until the app's stdout closes (it has exited): nothing more.
        assert!(session.answers.recv_timeout(GUARD).is_err(), "nothing more");
    }
}
