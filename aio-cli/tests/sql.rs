//! `aio sql`, run as the real binary in line mode (piped stdin) on SQLite
//! databases in temporary directories.
//!
//! Every wait is for an event (an answer line, the process exiting); the
//! time limits only keep a broken build from hanging the suite. Answers
//! come in the order queries finish, so tests that send several compare
//! sets unless the order itself is what they check.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// How long any single wait may take before the test fails.
const GUARD: Duration = Duration::from_secs(30);

/// A fresh directory for one test's database, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!("aio-sql-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create a temporary directory");
        TempDir(path)
    }

    fn db(&self) -> String {
        self.0.join("test.db").display().to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Starts `aio sql ARGS` with piped stdin, stdout and stderr.
fn start(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_aio"))
        .arg("sql")
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start aio sql")
}

/// Waits for `child` to exit and collects its output; kills it if the
/// guard runs out.
fn wait_with_guard(child: Child) -> Output {
    let pid = rustix::process::Pid::from_child(&child);
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || tx.send(child.wait_with_output()));
    match rx.recv_timeout(GUARD) {
        Ok(output) => output.expect("wait for aio"),
        Err(_) => {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            panic!("aio did not exit within {GUARD:?}");
        }
    }
}

/// Runs `aio sql ARGS` with `queries` on stdin (then EOF); returns its
/// stdout lines, stderr and exit status.
fn run(args: &[&str], queries: &str) -> (Vec<String>, String, ExitStatus) {
    let mut child = start(args);
    let mut stdin = child.stdin.take().expect("piped stdin");
    let input = queries.as_bytes().to_vec();
    thread::spawn(move || stdin.write_all(&input));
    let output = wait_with_guard(child);
    let stdout = String::from_utf8(output.stdout).expect("UTF-8 output");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (
        stdout.lines().map(str::to_owned).collect(),
        stderr,
        output.status,
    )
}

/// Runs `queries` against the database `db` and checks it exits 0;
/// returns the answers, sorted.
fn answers(db: &str, queries: &str) -> Vec<String> {
    let (mut lines, stderr, status) = run(&["--db", db], queries);
    assert!(status.success(), "{status}: {stderr}");
    lines.sort();
    lines
}

#[test]
fn a_new_database_gets_the_demo_products_table() {
    let dir = TempDir::new("demo");
    let queries = "SELECT * FROM products\n\
                   SELECT product_name, price_cents FROM products WHERE product_id <= 10;\n   \n\
                   \t SELECT count(*) FROM products  \n";
    assert_eq!(
        answers(&dir.db(), queries),
        [
            "Selected 1 rows by query: SELECT count(*) FROM products",
            "Selected 10 rows by query: SELECT product_name, price_cents FROM products WHERE product_id <= 10;",
            "Selected 4000 rows by query: SELECT * FROM products",
        ]
    );
    assert!(Path::new(&dir.db()).exists());
    // A second run uses the same table as it is.
    assert_eq!(
        answers(&dir.db(), "SELECT * FROM products WHERE brand = 'Acme'\n").len(),
        1
    );
}

#[test]
fn bad_queries_are_errors_and_the_others_still_run() {
    let dir = TempDir::new("errors");
    let lines = answers(
        &dir.db(),
        "SELEC 1\nSELECT * FROM nowhere\nSELECT 1; SELECT 2\nSELECT 1\n",
    );
    assert_eq!(lines.len(), 4, "{lines:?}");
    let find = |prefix: &str| {
        lines
            .iter()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} in {lines:?}"))
            .clone()
    };
    assert!(find("Error from query: SELEC 1: ").contains("syntax error"));
    assert!(find("Error from query: SELECT * FROM nowhere: ").contains("no such table: nowhere"));
    find("Error from query: SELECT 1; SELECT 2: ");
    assert_eq!(find("Selected"), "Selected 1 rows by query: SELECT 1");
}

#[test]
fn statements_that_return_no_rows_select_0() {
    let dir = TempDir::new("statements");
    // One run per step: the queries of one run race each other.
    assert_eq!(
        answers(&dir.db(), "CREATE TABLE t (x INTEGER)\n"),
        ["Selected 0 rows by query: CREATE TABLE t (x INTEGER)"]
    );
    assert_eq!(
        answers(&dir.db(), "INSERT INTO t VALUES (1), (2), (3)\n"),
        ["Selected 0 rows by query: INSERT INTO t VALUES (1), (2), (3)"]
    );
    assert_eq!(
        answers(
            &dir.db(),
            "DELETE FROM t WHERE x = 1 RETURNING x\n-- only a comment\n"
        ),
        [
            "Selected 0 rows by query: -- only a comment",
            "Selected 1 rows by query: DELETE FROM t WHERE x = 1 RETURNING x",
        ]
    );
    assert_eq!(
        answers(&dir.db(), "SELECT x FROM t\n"),
        ["Selected 2 rows by query: SELECT x FROM t"]
    );
}

#[test]
fn many_queries_on_a_small_pool_are_all_answered() {
    let dir = TempDir::new("many");
    let queries: Vec<String> = (1..=30)
        .map(|n| format!("SELECT * FROM products WHERE product_id <= {n}"))
        .collect();
    let (lines, stderr, status) = run(
        &["--db", &dir.db(), "--pool", "3"],
        &(queries.join("\n") + "\n"),
    );
    assert!(status.success(), "{status}: {stderr}");
    let mut expected: Vec<String> = (1..=30)
        .map(|n| {
            format!("Selected {n} rows by query: SELECT * FROM products WHERE product_id <= {n}")
        })
        .collect();
    let mut lines = lines;
    lines.sort();
    expected.sort();
    assert_eq!(lines, expected);
}

/// Sends queries to a running `aio sql` and reads its answers as they come.
struct Session {
    /// The app; taken when it is waited for.
    child: Option<Child>,
    /// Its stdin; dropped for EOF.
    stdin: Option<ChildStdin>,
    /// Its stdout, line by line.
    answers: mpsc::Receiver<String>,
}

impl Session {
    fn start(args: &[&str]) -> Session {
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

    fn send(&mut self, query: &str) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        writeln!(stdin, "{query}").expect("send a query");
    }

    fn answer(&self) -> String {
        self.answers.recv_timeout(GUARD).expect("an answer")
    }

    /// Closes stdin and waits for the app to exit.
    fn finish(&mut self) -> ExitStatus {
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

#[test]
fn quick_queries_are_answered_while_a_slow_one_runs() {
    let dir = TempDir::new("concurrent");
    let mut session = Session::start(&["--db", &dir.db(), "--pool", "2"]);
    // Sleeps far longer than the guard: if the queries ran one after the
    // other, no answer could come before the guard runs out.
    session.send("SELECT pg_sleep(60)");
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

#[test]
fn a_pool_of_one_runs_one_query_at_a_time_in_order() {
    let dir = TempDir::new("pool1");
    let (lines, stderr, status) = run(
        &["--db", &dir.db(), "--pool", "1"],
        "SELECT pg_sleep(0.2)\nSELECT 1\nSELECT 2, 3\n",
    );
    assert!(status.success(), "{status}: {stderr}");
    assert_eq!(
        lines,
        [
            "Selected 1 rows by query: SELECT pg_sleep(0.2)",
            "Selected 1 rows by query: SELECT 1",
            "Selected 1 rows by query: SELECT 2, 3",
        ]
    );
}

#[test]
fn eof_waits_for_the_queries_still_running() {
    let dir = TempDir::new("eof");
    let mut session = Session::start(&["--db", &dir.db()]);
    session.send("SELECT 0");
    assert_eq!(session.answer(), "Selected 1 rows by query: SELECT 0");
    session.send("SELECT pg_sleep(1)");
    // EOF while the query sleeps (or, on a slow machine, just after).
    let status = session.finish();
    assert!(status.success(), "{status}");
    assert_eq!(
        session.answer(),
        "Selected 1 rows by query: SELECT pg_sleep(1)"
    );
    assert!(session.answers.recv_timeout(GUARD).is_err(), "nothing more");
}

#[test]
fn postgres_is_refused_with_a_clear_message() {
    let output = wait_with_guard(start(&["--postgres", "postgres://localhost/products"]));
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("PostgreSQL support is not built yet"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn a_database_that_cannot_be_opened_is_a_one_line_error() {
    let dir = TempDir::new("unopenable");
    let db = dir.0.join("no-such-dir").join("x.db").display().to_string();
    let (lines, stderr, status) = run(&["--db", &db], "SELECT 1\n");
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(lines.is_empty(), "{lines:?}");
    assert!(stderr.starts_with("aio sql: "), "{stderr}");
    assert!(stderr.contains("x.db"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}
