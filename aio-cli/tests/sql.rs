//! `aio sql`, run as the real binary in line mode (piped stdin) on SQLite
//! databases in temporary directories.
//!
//! Every wait is for an event (an answer line, the process exiting); the
//! time limits only keep a broken build from hanging the suite. Answers
//! come in the order queries finish, so tests that send several compare
//! sets unless the order itself is what they check.

mod support;

use std::path::{Path, PathBuf};

use support::sql::{common, find, run, sorted_answers};

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

/// Runs `queries` against the database `db` and checks it exits 0;
/// returns the answers, sorted.
fn answers(db: &str, queries: &str) -> Vec<String> {
    sorted_answers(&["--db", db], queries)
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
    let find = |prefix: &str| find(&lines, prefix);
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
    common::many_queries_on_a_small_pool_are_all_answered(&["--db", &dir.db()]);
}

#[test]
fn quick_queries_are_answered_while_a_slow_one_runs() {
    let dir = TempDir::new("concurrent");
    common::quick_queries_are_answered_while_a_slow_one_runs(
        &["--db", &dir.db()],
        "SELECT pg_sleep(60)",
    );
}

#[test]
fn eof_waits_for_the_queries_still_running() {
    let dir = TempDir::new("eof");
    common::eof_waits_for_the_queries_still_running(&["--db", &dir.db()], "SELECT pg_sleep(1)");
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
