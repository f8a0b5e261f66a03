//! `aio sql --postgres`, run as the real binary in line mode against a
//! real PostgreSQL server of the tests' own (see `support/postgres.rs`):
//! each test gets a fresh database in a throwaway cluster. Without
//! PostgreSQL installed these tests say `skipped: PostgreSQL not
//! installed` and pass, unless `AIO_REQUIRE_POSTGRES=1`.
//!
//! Every wait is for an event (an answer line, the process exiting); the
//! time limits only keep a broken build from hanging the suite. Answers
//! come in the order queries finish, so tests that send several compare
//! sets unless the order itself is what they check.

mod support;

use std::sync::Arc;

use support::postgres::{free_port, Cluster, GUARDED_PASSWORD, GUARDED_USER};
use support::pty::Pty;
use support::sql::{common, find, run, run_with_env, sorted_answers, Session};

/// The shared cluster and a new database in it, with its URL; `None`
/// when the test is skipped.
fn database(test: &str) -> Option<(Arc<Cluster>, String)> {
    let cluster = Cluster::shared()?;
    let name = cluster.create_database(test);
    let url = cluster.url(&name);
    Some((cluster, url))
}

/// Runs `queries` against `url`, checks it exits 0, returns the answers
/// sorted.
fn answers(url: &str, queries: &str) -> Vec<String> {
    sorted_answers(&["--postgres", url], queries)
}

#[test]
fn a_database_without_tables_gets_the_demo_products_table() {
    let Some((_cluster, url)) = database("demo") else {
        return;
    };
    let queries = "SELECT * FROM products\n\
                   SELECT product_name, price_cents FROM products WHERE product_id <= 10;\n   \n\
                   \t SELECT count(*) FROM products  \n";
    let (mut lines, stderr, status) = run(&["--postgres", &url], queries);
    assert!(status.success(), "{status}: {stderr}");
    lines.sort();
    assert_eq!(
        lines,
        [
            "Selected 1 rows by query: SELECT count(*) FROM products",
            "Selected 10 rows by query: SELECT product_name, price_cents FROM products WHERE product_id <= 10;",
            "Selected 4000 rows by query: SELECT * FROM products",
        ]
    );
    assert!(
        stderr.contains("Created the demo table products (4000 rows)"),
        "{stderr}"
    );

    // A second run uses the table as it is.
    let (lines, stderr, status) = run(&["--postgres", &url], "SELECT * FROM products\n");
    assert!(status.success(), "{status}: {stderr}");
    assert_eq!(
        lines,
        ["Selected 4000 rows by query: SELECT * FROM products"]
    );
    assert!(!stderr.contains("Created"), "{stderr}");
}

#[test]
fn the_demo_table_holds_the_same_rows_as_sqlites() {
    let Some((_cluster, url)) = database("same_rows") else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("aio-sql-pg-same-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create a temporary directory");
    let db = dir.join("test.db").display().to_string();
    let queries = "SELECT * FROM products WHERE brand = 'Acme' AND color = 'red'\n\
                   SELECT * FROM products WHERE price_cents < 2000 AND size = 'XL'\n\
                   SELECT * FROM products WHERE product_name LIKE '% Warm jacket'\n";
    let sqlite = sorted_answers(&["--db", &db], queries);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(answers(&url, queries), sqlite);
    assert!(
        sqlite.iter().all(|l| !l.starts_with("Selected 0 ")),
        "each query picks some rows: {sqlite:?}"
    );
}

#[test]
fn a_database_with_tables_is_used_as_it_is() {
    let Some((cluster, url)) = database("has_tables") else {
        return;
    };
    let name = url.rsplit('/').next().expect("a database name");
    cluster.psql(
        name,
        "CREATE TABLE mine (x int); INSERT INTO mine VALUES (1), (2)",
    );
    let (lines, stderr, status) = run(
        &["--postgres", &url],
        "SELECT * FROM mine\nSELECT * FROM products\n",
    );
    assert!(status.success(), "{status}: {stderr}");
    let lines = lines.as_slice();
    assert_eq!(
        find(lines, "Selected"),
        "Selected 2 rows by query: SELECT * FROM mine"
    );
    assert_eq!(
        find(lines, "Error"),
        "Error from query: SELECT * FROM products: relation \"products\" does not exist"
    );
}

#[test]
fn statements_that_return_no_rows_select_0_and_returning_counts() {
    let Some((_cluster, url)) = database("statements") else {
        return;
    };
    // One run per step: the queries of one run race each other.
    assert_eq!(
        answers(&url, "CREATE TABLE t (x integer PRIMARY KEY)\n"),
        ["Selected 0 rows by query: CREATE TABLE t (x integer PRIMARY KEY)"]
    );
    assert_eq!(
        answers(&url, "INSERT INTO t VALUES (1), (2), (3)\n"),
        ["Selected 0 rows by query: INSERT INTO t VALUES (1), (2), (3)"]
    );
    assert_eq!(
        answers(
            &url,
            "DELETE FROM t WHERE x = 1 RETURNING x\n-- only a comment\n"
        ),
        [
            "Selected 0 rows by query: -- only a comment",
            "Selected 1 rows by query: DELETE FROM t WHERE x = 1 RETURNING x",
        ]
    );
    assert_eq!(
        answers(&url, "UPDATE t SET x = x + 10\n"),
        ["Selected 0 rows by query: UPDATE t SET x = x + 10"]
    );
    assert_eq!(
        answers(&url, "SELECT x FROM t\nVALUES (1), (2), (3), (4)\n"),
        [
            "Selected 2 rows by query: SELECT x FROM t",
            "Selected 4 rows by query: VALUES (1), (2), (3), (4)",
        ]
    );
}

#[test]
fn errors_carry_the_query_and_postgresqls_own_message() {
    let Some((_cluster, url)) = database("errors") else {
        return;
    };
    assert_eq!(
        answers(&url, "CREATE TABLE u (x int PRIMARY KEY)\n"),
        ["Selected 0 rows by query: CREATE TABLE u (x int PRIMARY KEY)"]
    );
    let lines = answers(
        &url,
        "SELEC 1\nSELECT * FROM nowhere\nSELECT 1; SELECT 2\nSELECT 1/0\n\
         INSERT INTO u VALUES (1), (1)\nSELECT 1\n",
    );
    assert_eq!(lines.len(), 6, "{lines:?}");
    let find = |prefix: &str| find(&lines, prefix);
    assert_eq!(
        find("Error from query: SELEC 1: "),
        "Error from query: SELEC 1: syntax error at or near \"SELEC\""
    );
    assert_eq!(
        find("Error from query: SELECT * FROM nowhere: "),
        "Error from query: SELECT * FROM nowhere: relation \"nowhere\" does not exist"
    );
    assert_eq!(
        find("Error from query: SELECT 1; SELECT 2: "),
        "Error from query: SELECT 1; SELECT 2: \
         cannot insert multiple commands into a prepared statement"
    );
    assert_eq!(
        find("Error from query: SELECT 1/0: "),
        "Error from query: SELECT 1/0: division by zero"
    );
    assert_eq!(
        find("Error from query: INSERT"),
        "Error from query: INSERT INTO u VALUES (1), (1): \
         duplicate key value violates unique constraint \"u_pkey\" \
         (DETAIL: Key (x)=(1) already exists.)"
    );
    assert_eq!(find("Selected"), "Selected 1 rows by query: SELECT 1");
}

#[test]
fn quick_queries_are_answered_while_a_slow_one_runs() {
    let Some((_cluster, url)) = database("concurrent") else {
        return;
    };
    // The cluster's shutdown ends the server's side of the sleep.
    common::quick_queries_are_answered_while_a_slow_one_runs(
        &["--postgres", &url],
        "SELECT pg_sleep(600)",
    );
}

#[test]
fn leaving_the_screen_cancels_the_queries_still_running() {
    let Some((cluster, url)) = database("leave") else {
        return;
    };
    let name = url.rsplit('/').next().expect("a database name");
    let sessions = format!("SELECT count(*) FROM pg_stat_activity WHERE datname = '{name}'");
    let sleeping = format!("{sessions} AND state = 'active' AND query = 'SELECT pg_sleep(600)'");
    let mut pty = Pty::start(&["sql", "--postgres", &url, "--pool", "2"]);
    pty.wait_for("sql> ");
    pty.type_keys(b"SELECT pg_sleep(600)\r");
    cluster.wait_until(&sleeping, "1");
    pty.type_keys(b"\x04"); // Ctrl-D leaves at once
    let status = pty.wait_exit();
    assert!(status.success(), "{status}");
    assert!(pty.restored(), "the terminal was left in cbreak mode");
    // Cancelled, the server's session stops sleeping, finds the client
    // gone and ends; uncancelled, it would sleep on for ten minutes.
    cluster.wait_until(&sessions, "0");
}

#[test]
fn eof_waits_for_the_queries_still_running() {
    let Some((_cluster, url)) = database("eof") else {
        return;
    };
    common::eof_waits_for_the_queries_still_running(&["--postgres", &url], "SELECT pg_sleep(0.5)");
}

#[test]
fn many_queries_on_a_small_pool_are_all_answered() {
    let Some((_cluster, url)) = database("many") else {
        return;
    };
    common::many_queries_on_a_small_pool_are_all_answered(&["--postgres", &url]);
}

#[test]
fn a_transaction_left_open_is_rolled_back_when_the_connection_comes_back() {
    let Some((cluster, url)) = database("rollback") else {
        return;
    };
    let name = url.rsplit('/').next().expect("a database name").to_owned();
    cluster.psql(&name, "CREATE TABLE t (x int)");
    // One connection, so the INSERT runs on the one that ran BEGIN: had
    // that transaction stayed open, the INSERT would be lost with it when
    // the app exits.
    let lines = sorted_answers(
        &["--postgres", &url, "--pool", "1"],
        "BEGIN\nINSERT INTO t VALUES (1)\n",
    );
    assert_eq!(
        lines,
        [
            "Selected 0 rows by query: BEGIN",
            "Selected 0 rows by query: INSERT INTO t VALUES (1)",
        ]
    );
    assert_eq!(cluster.psql(&name, "SELECT count(*) FROM t"), "1");
}

#[test]
fn a_connection_the_server_ended_is_opened_again() {
    let Some((cluster, url)) = database("reconnect") else {
        return;
    };
    let name = url.rsplit('/').next().expect("a database name").to_owned();
    let mut session = Session::start(&["--postgres", &url, "--pool", "1"]);
    session.send("SELECT 1");
    assert_eq!(session.answer(), "Selected 1 rows by query: SELECT 1");
    // Ends the app's session and waits (up to 10 s) until it has gone.
    let ended = cluster.psql(
        "postgres",
        &format!(
            "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity \
             WHERE datname = '{name}' AND pid <> pg_backend_pid()"
        ),
    );
    assert_eq!(ended, "t");
    // The first query after it may learn of the loss (an error) or find
    // the connection already closed and open it again; the next one
    // always has a fresh connection.
    session.send("SELECT 2");
    let first = session.answer();
    assert!(
        first == "Selected 1 rows by query: SELECT 2"
            || first.starts_with("Error from query: SELECT 2: "),
        "{first}"
    );
    session.send("SELECT 3");
    assert_eq!(session.answer(), "Selected 1 rows by query: SELECT 3");
    assert!(session.finish().success());
}

#[test]
fn a_unix_socket_directory_as_the_host_connects_through_the_socket() {
    let Some((cluster, url)) = database("unix") else {
        return;
    };
    let name = url.rsplit('/').next().expect("a database name");
    let dir = cluster
        .socket_dir()
        .display()
        .to_string()
        .replace('/', "%2F");
    let socket_url = format!("postgres://postgres@{dir}:{}/{name}", cluster.port);
    assert_eq!(
        answers(
            &socket_url,
            "SELECT * FROM products WHERE product_id <= 3\n"
        ),
        ["Selected 3 rows by query: SELECT * FROM products WHERE product_id <= 3"]
    );
    // And the key=value form, with the directory as `host`.
    let conninfo = format!(
        "host={} port={} user=postgres dbname={name}",
        cluster.socket_dir().display(),
        cluster.port
    );
    assert_eq!(
        answers(&conninfo, "SELECT 1\n"),
        ["Selected 1 rows by query: SELECT 1"]
    );
}

/// Checks that `aio sql ARGS` exits 1 without answering, with one line on
/// stderr that starts `aio sql: ` and contains each of `needles`.
fn fails_with_one_line(args: &[&str], needles: &[&str]) {
    let (lines, stderr, status) = run(args, "SELECT 1\n");
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(lines.is_empty(), "{lines:?}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("aio sql: "), "{stderr}");
    for needle in needles {
        assert!(stderr.contains(needle), "no {needle:?} in {stderr}");
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_refused_connection_is_a_one_line_error_naming_the_server() {
    // Needs no server: nothing listens on this port.
    let port = free_port();
    let url = format!("postgres://postgres@127.0.0.1:{port}/shop");
    fails_with_one_line(
        &["--postgres", &url],
        &[&format!("PostgreSQL at 127.0.0.1:{port}"), "refused"],
    );
}

#[test]
fn a_bad_password_or_a_missing_database_is_a_one_line_error() {
    let Some((cluster, url)) = database("login") else {
        return;
    };
    let name = url.rsplit('/').next().expect("a database name");
    let at = format!("127.0.0.1:{}/{name}", cluster.port);
    let wrong = format!("postgres://{GUARDED_USER}:wrong@{at}");
    fails_with_one_line(
        &["--postgres", &wrong],
        &[
            &format!("PostgreSQL at 127.0.0.1:{}", cluster.port),
            &format!("password authentication failed for user \"{GUARDED_USER}\""),
        ],
    );
    // The right password logs in, through SCRAM over the aio socket. That
    // role may not create tables here, so the demo table is a warning and
    // the session goes on.
    cluster.psql(name, "REVOKE CREATE ON SCHEMA public FROM PUBLIC");
    let right = format!("postgres://{GUARDED_USER}:{GUARDED_PASSWORD}@{at}");
    let (lines, stderr, status) = run(&["--postgres", &right], "SELECT 1\n");
    assert!(status.success(), "{status}: {stderr}");
    assert_eq!(lines, ["Selected 1 rows by query: SELECT 1"]);
    assert!(
        stderr.contains(
            "could not create the demo table products: permission denied for schema public"
        ),
        "{stderr}"
    );
    fails_with_one_line(
        &["--postgres", &cluster.url("no_such_database")],
        &["database \"no_such_database\" does not exist"],
    );
    fails_with_one_line(
        &["--postgres", "postgres://u:secret@host:notaport/db"],
        &["invalid --postgres URL"],
    );
}

#[test]
fn pghost_pgport_pguser_and_pgdatabase_fill_in_what_the_url_leaves_out() {
    let Some((cluster, url)) = database("environment") else {
        return;
    };
    let name = url.rsplit('/').next().expect("a database name");
    let port = cluster.port.to_string();
    let socket_dir = cluster.socket_dir().display().to_string();
    for host in ["127.0.0.1", socket_dir.as_str()] {
        let vars = [
            ("PGHOST", host),
            ("PGPORT", port.as_str()),
            ("PGUSER", "postgres"),
            ("PGDATABASE", name),
        ];
        let (lines, stderr, status) = run_with_env(
            &["--postgres", "postgres://"],
            &vars,
            "SELECT current_database()\n",
        );
        assert!(status.success(), "{host}: {status}: {stderr}");
        assert_eq!(
            lines,
            ["Selected 1 rows by query: SELECT current_database()"]
        );
    }
    // The URL wins: a wrong PGPORT does not matter when the URL has a port.
    let (_, stderr, status) = run_with_env(&["--postgres", &url], &[("PGPORT", "1")], "SELECT 1\n");
    assert!(status.success(), "{status}: {stderr}");
    fails_with_env(
        &[("PGPORT", "eighty")],
        "invalid PGPORT \"eighty\": not a port number",
    );
}

#[test]
fn the_password_comes_from_pgpassword_or_a_private_password_file() {
    let Some((cluster, url)) = database("password") else {
        return;
    };
    let name = url.rsplit('/').next().expect("a database name");
    let bare = format!(
        "postgres://{GUARDED_USER}@127.0.0.1:{}/{name}",
        cluster.port
    );
    let logged_in = |vars: &[(&str, &str)]| {
        let (lines, stderr, status) = run_with_env(&["--postgres", &bare], vars, "SELECT 1\n");
        assert!(status.success(), "{vars:?}: {status}: {stderr}");
        assert_eq!(lines, ["Selected 1 rows by query: SELECT 1"]);
    };
    logged_in(&[("PGPASSWORD", GUARDED_PASSWORD)]);

    let dir = std::env::temp_dir().join(format!("aio-sql-pgpass-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create a temporary directory");
    let file = dir.join("pgpass");
    std::fs::write(
        &file,
        format!(
            "127.0.0.1:{port}:{name}:someone_else:wrong\n\
             127.0.0.1:{port}:*:{GUARDED_USER}:{GUARDED_PASSWORD}\n",
            port = cluster.port
        ),
    )
    .expect("write the password file");
    let path = file.display().to_string();
    set_mode(&file, 0o600);
    logged_in(&[("PGPASSFILE", &path)]);

    // A file others may read is not used, and the warning says why.
    set_mode(&file, 0o644);
    let (_, stderr, status) = run_with_env(
        &["--postgres", &bare],
        &[("PGPASSFILE", &path)],
        "SELECT 1\n",
    );
    assert!(
        !status.success(),
        "logged in with an unsafe password file: {stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "password file {path} not used: group or others may read it"
        )),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Sets `file`'s permission bits.
fn set_mode(file: &std::path::Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(file, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// `aio sql --postgres postgres://` with `vars` fails at once, and its
/// error contains `needle`.
fn fails_with_env(vars: &[(&str, &str)], needle: &str) {
    let (lines, stderr, status) = run_with_env(&["--postgres", "postgres://"], vars, "");
    assert!(!status.success(), "{lines:?}");
    assert!(stderr.contains(needle), "no {needle:?} in {stderr}");
}

/// Counts 1 row when the session runs over TLS, 0 when it does not.
const OVER_TLS: &str = "SELECT 1 FROM pg_stat_ssl WHERE pid = pg_backend_pid() AND ssl";

/// The answer to [`OVER_TLS`] at `url`, which must log in.
fn tls_rows(url: &str) -> String {
    let (lines, stderr, status) = run(&["--postgres", url], &format!("{OVER_TLS}\n"));
    assert!(status.success(), "{url}: {status}: {stderr}");
    assert_eq!(lines.len(), 1, "{lines:?}");
    lines[0].clone()
}

#[test]
fn sslmode_prefer_and_require_encrypt_and_disable_does_not() {
    let Some((cluster, url)) = database("tls_modes") else {
        return;
    };
    let encrypted = format!("Selected 1 rows by query: {OVER_TLS}");
    let plain = format!("Selected 0 rows by query: {OVER_TLS}");
    // The default is libpq's `prefer`: TLS, as the server offers it.
    assert_eq!(tls_rows(&url), encrypted);
    assert_eq!(tls_rows(&format!("{url}?sslmode=require")), encrypted);
    assert_eq!(tls_rows(&format!("{url}?sslmode=disable")), plain);
    // Never over a Unix socket, whatever the mode, as in libpq.
    let name = url.rsplit('/').next().expect("a database name");
    let socket = format!(
        "postgres:///{name}?host={}&port={}&user=postgres&sslmode=require",
        cluster.socket_dir().display(),
        cluster.port
    );
    assert_eq!(tls_rows(&socket), plain);
    // PGSSLMODE when the URL says nothing.
    let (lines, stderr, status) = run_with_env(
        &["--postgres", &url],
        &[("PGSSLMODE", "disable")],
        &format!("{OVER_TLS}\n"),
    );
    assert!(status.success(), "{status}: {stderr}");
    assert_eq!(lines, [plain]);
}

#[test]
fn verify_full_checks_the_name_and_verify_ca_the_signer() {
    let Some((cluster, url)) = database("tls_verify") else {
        return;
    };
    let name = url.rsplit('/').next().expect("a database name");
    let ca = cluster.ca_file.display().to_string();
    let at = |host: &str, mode: &str, root: &str| {
        format!(
            "postgres://postgres@{host}:{}/{name}?sslmode={mode}&sslrootcert={root}",
            cluster.port
        )
    };
    let encrypted = format!("Selected 1 rows by query: {OVER_TLS}");
    // The certificate names localhost only.
    assert_eq!(tls_rows(&at("localhost", "verify-full", &ca)), encrypted);
    assert_eq!(tls_rows(&at("127.0.0.1", "verify-ca", &ca)), encrypted);
    fails_with_one_line(
        &["--postgres", &at("127.0.0.1", "verify-full", &ca)],
        &[
            "PostgreSQL at 127.0.0.1",
            "TLS handshake: invalid peer certificate",
            "not valid for name \"127.0.0.1\"",
        ],
    );

    // Signed by someone else: refused by both.
    let other = std::env::temp_dir().join(format!("aio-sql-other-ca-{}.pem", std::process::id()));
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let pem = params.self_signed(&key).expect("CA").pem();
    std::fs::write(&other, pem).expect("write the other CA");
    let other = other.display().to_string();
    for mode in ["verify-ca", "verify-full"] {
        fails_with_one_line(
            &["--postgres", &at("localhost", mode, &other)],
            &["invalid peer certificate", "UnknownIssuer"],
        );
    }
    let _ = std::fs::remove_file(&other);
    // No sslrootcert in the URL: PGSSLROOTCERT's file (a missing one in
    // these tests) is the root, and its absence is the error.
    fails_with_one_line(
        &["--postgres", &format!("{url}?sslmode=verify-full")],
        &["sslrootcert: cannot read certificate file /nonexistent/aio-tests/root.crt"],
    );
}

#[test]
fn a_set_lasts_one_line_as_the_pool_resets_the_session() {
    let Some((_cluster, url)) = database("session_reset") else {
        return;
    };
    // One connection, so both lines run on it, one after the other: the
    // second would be cancelled by the 1 ms timeout if the SET outlived
    // its own line.
    let (lines, stderr, status) = run(
        &["--postgres", &url, "--pool", "1"],
        "SET statement_timeout = 1\nSELECT pg_sleep(0.05)\n",
    );
    assert!(status.success(), "{status}: {stderr}");
    assert_eq!(
        lines,
        [
            "Selected 0 rows by query: SET statement_timeout = 1",
            "Selected 1 rows by query: SELECT pg_sleep(0.05)",
        ]
    );
}

/// A front for a PostgreSQL server: it says yes to the first
/// connection's SSLRequest and then sends what is not TLS; a second
/// connection, if `relay_to` names a server port, it relays there.
/// Returns the front's port and its thread.
fn botched_tls_front(relay_to: Option<u16>) -> (u16, std::thread::JoinHandle<()>) {
    use std::io::{Read, Write};
    use std::net::{Shutdown, TcpListener, TcpStream};

    let front = TcpListener::bind("127.0.0.1:0").expect("bind the front");
    let port = front.local_addr().expect("its port").port();
    let thread = std::thread::spawn(move || {
        let (mut first, _) = front.accept().expect("the first connection");
        let mut request = [0u8; 8];
        first.read_exact(&mut request).expect("read the SSLRequest");
        // Length 8, then the SSLRequest code 80877103.
        assert_eq!(request, [0, 0, 0, 8, 4, 210, 22, 47]);
        first.write_all(b"Sthis is not TLS\n").expect("answer");
        drop(first);
        let Some(server_port) = relay_to else {
            return;
        };
        let (client, _) = front.accept().expect("the second connection");
        let server = TcpStream::connect(("127.0.0.1", server_port)).expect("reach postgres");
        let pipe = |mut from: TcpStream, to: TcpStream| {
            std::thread::spawn(move || {
                let mut to_writer = &to;
                let _ = std::io::copy(&mut from, &mut to_writer);
                let _ = to.shutdown(Shutdown::Write);
            })
        };
        let up = pipe(
            client.try_clone().expect("clone"),
            server.try_clone().expect("clone"),
        );
        let down = pipe(server, client);
        let _ = (up.join(), down.join());
    });
    (port, thread)
}

#[test]
fn under_prefer_a_failed_handshake_is_tried_again_without_tls() {
    let Some((cluster, url)) = database("tls_fallback") else {
        return;
    };
    let name = url.rsplit('/').next().expect("a database name");
    let (front_port, relay) = botched_tls_front(Some(cluster.port));
    let url = format!("postgres://postgres@127.0.0.1:{front_port}/{name}");
    let (lines, stderr, status) = run(
        &["--postgres", &url, "--pool", "1"],
        &format!("{OVER_TLS}\n"),
    );
    assert!(status.success(), "{status}: {stderr}");
    assert_eq!(lines, [format!("Selected 0 rows by query: {OVER_TLS}")]);
    relay.join().expect("the relay");

    // `require` does not fall back: the handshake's failure is the error.
    let (front_port, refuser) = botched_tls_front(None);
    fails_with_one_line(
        &[
            "--postgres",
            &format!("postgres://postgres@127.0.0.1:{front_port}/{name}?sslmode=require"),
        ],
        &["error performing TLS handshake"],
    );
    refuser.join().expect("the refuser");
}
