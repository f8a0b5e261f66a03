//! A throwaway PostgreSQL server for the tests: `initdb` into a temporary
//! directory, `postgres` on a free loopback port (and a Unix socket in the
//! same directory), trust authentication, stopped and removed when the
//! last test using it lets go.
//!
//! The server refuses to run as root, so when the tests run as root it
//! runs as the `postgres` OS user. Its binaries are looked for in
//! `$AIO_PG_BIN`, Debian's `/usr/lib/postgresql/<version>/bin` (newest
//! first) and `PATH`. Without them the tests are skipped, saying so on
//! stderr, unless `AIO_REQUIRE_POSTGRES=1` makes that a failure (CI sets
//! it after installing PostgreSQL).
//!
//! Waits are for events: the server is ready when `pg_isready` says it
//! accepts connections (polled, as nothing else announces it), and it has
//! stopped when its process has exited.

use std::fs;
use std::io::Write;
use std::net::TcpListener;
use std::os::unix::fs::{chown, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::thread;
use std::time::{Duration, Instant};

use super::GUARD;

/// The role that logs in with a password: every other role is trusted.
pub const GUARDED_USER: &str = "guarded";

/// `GUARDED_USER`'s password.
pub const GUARDED_PASSWORD: &str = "right-password";

/// A running throwaway server.
pub struct Cluster {
    /// Holds the data directory, the socket and the log; removed on drop.
    dir: PathBuf,
    /// Where `psql` and `pg_isready` are.
    bin: PathBuf,
    /// The loopback port it listens on.
    pub port: u16,
    /// The postmaster, stopped on drop.
    server: Child,
    /// The CA that signed the server's certificate, for `sslrootcert`.
    pub ca_file: PathBuf,
}

/// The cluster the tests running now share; a test that starts when none
/// is running starts a new one.
static SHARED: Mutex<Weak<Cluster>> = Mutex::new(Weak::new());

impl Cluster {
    /// The running cluster, starting one if no test holds it; `None` (after
    /// saying so on stderr) when PostgreSQL is not installed and
    /// `AIO_REQUIRE_POSTGRES=1` is not set.
    ///
    /// # Panics
    ///
    /// When PostgreSQL is required but missing, or fails to start.
    pub fn shared() -> Option<Arc<Cluster>> {
        let mut shared = SHARED.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(cluster) = shared.upgrade() {
            return Some(cluster);
        }
        let bin = match find_binaries() {
            Ok(bin) => bin,
            Err(why) => {
                if std::env::var("AIO_REQUIRE_POSTGRES").as_deref() == Ok("1") {
                    panic!("AIO_REQUIRE_POSTGRES=1 but {why}");
                }
                // Straight to stderr, past the test harness's capture, so
                // the skip shows in `cargo test`'s output.
                let _ = writeln!(
                    std::io::stderr(),
                    "skipped: PostgreSQL not installed ({why})"
                );
                return None;
            }
        };
        let cluster = Arc::new(Cluster::start(bin));
        *shared = Arc::downgrade(&cluster);
        Some(cluster)
    }

    /// initdb, then the server, retrying on another port if the free one
    /// was taken in between.
    fn start(bin: PathBuf) -> Cluster {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("aio-pg-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create the cluster's directory");
        let owner = server_user();
        if let Some((uid, gid)) = owner {
            chown(&dir, Some(uid), Some(gid)).expect("give the directory to postgres");
        }
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).expect("chmod 700");

        let data = dir.join("data");
        let output = as_server_user(Command::new(bin.join("initdb")), owner)
            .args(["-D".as_ref(), data.as_os_str()])
            .args(["-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C"])
            .arg("--no-sync")
            .current_dir(&dir)
            .output()
            .expect("run initdb");
        check(&output, "initdb");
        // Password authentication for one role over TCP, so a bad
        // password can be tested; the rest stays trusted.
        let hba = format!(
            "local all all trust\n\
             host all {GUARDED_USER} 127.0.0.1/32 scram-sha-256\n\
             host all all 127.0.0.1/32 trust\n"
        );
        fs::write(data.join("pg_hba.conf"), hba).expect("write pg_hba.conf");

        let tls = server_certificate(&dir, owner);

        for _ in 0..5 {
            let port = free_port();
            let log = dir.join(format!("server-{port}.log"));
            let log_file = fs::File::create(&log).expect("create the server log");
            if let Some((uid, gid)) = owner {
                chown(&log, Some(uid), Some(gid)).expect("give the log to postgres");
            }
            let mut server = as_server_user(Command::new(bin.join("postgres")), owner)
                .args(["-D".as_ref(), data.as_os_str()])
                .args(["-p", &port.to_string()])
                .args(["-k".as_ref(), dir.as_os_str()])
                .args(["-c", "listen_addresses=127.0.0.1"])
                .args(["-c", "fsync=off", "-c", "max_connections=200"])
                .args(["-c", "ssl=on"])
                .arg("-c")
                .arg(format!("ssl_cert_file={}", tls.cert.display()))
                .arg("-c")
                .arg(format!("ssl_key_file={}", tls.key.display()))
                .current_dir(&dir)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log_file)
                .spawn()
                .expect("start postgres");
            match wait_ready(&mut server, &bin, port) {
                Ok(()) => {
                    let cluster = Cluster {
                        dir,
                        bin,
                        port,
                        server,
                        ca_file: tls.ca,
                    };
                    cluster.psql(
                        "postgres",
                        &format!("CREATE ROLE {GUARDED_USER} LOGIN PASSWORD '{GUARDED_PASSWORD}'"),
                    );
                    return cluster;
                }
                Err(()) => {
                    let log = fs::read_to_string(&log).unwrap_or_default();
                    let _ = server.kill();
                    let _ = server.wait();
                    // Someone took the port between our probe and the
                    // server's bind: try another.
                    if !log.contains("already in use") {
                        let _ = fs::remove_dir_all(&dir);
                        panic!("postgres did not start:\n{log}");
                    }
                }
            }
        }
        let _ = fs::remove_dir_all(&dir);
        panic!("postgres found no free port in 5 tries");
    }

    /// A URL for `database` as the trusted superuser, over TCP.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// The directory holding the server's Unix socket.
    pub fn socket_dir(&self) -> &Path {
        &self.dir
    }

    /// A new, empty database named after `test` (made unique here).
    pub fn create_database(&self, test: &str) -> String {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!("{test}_{}", NEXT.fetch_add(1, Ordering::Relaxed));
        self.psql("postgres", &format!("CREATE DATABASE {name}"));
        name
    }

    /// Waits until `sql` (run in the `postgres` database) answers
    /// `expected`: for the server's own state, such as `pg_stat_activity`,
    /// which nothing announces, so it is polled.
    pub fn wait_until(&self, sql: &str, expected: &str) {
        let deadline = Instant::now() + GUARD;
        loop {
            let got = self.psql("postgres", sql);
            if got == expected {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{sql} still answers {got:?}, not {expected:?}, after {GUARD:?}"
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs `sql` in `database` with psql; returns its unaligned output.
    pub fn psql(&self, database: &str, sql: &str) -> String {
        let output = Command::new(self.bin.join("psql"))
            .args(["-X", "-q", "-At", "-v", "ON_ERROR_STOP=1"])
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-U", "postgres", "-d", database, "-c", sql])
            .env_remove("PGPASSWORD")
            .env_remove("PGSERVICE")
            .output()
            .expect("run psql");
        check(&output, &format!("psql -c {sql:?}"));
        String::from_utf8_lossy(&output.stdout)
            .trim_end()
            .to_owned()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let server = &mut self.server;
        // SIGINT is the server's fast shutdown: sessions are ended (even one
        // in pg_sleep) and it exits.
        let pid = rustix::process::Pid::from_child(server);
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::INT);
        let _ = server.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Waits until the server on `port` accepts connections; `Err` if it
/// exits first (or the guard runs out).
fn wait_ready(server: &mut Child, bin: &Path, port: u16) -> Result<(), ()> {
    let deadline = Instant::now() + GUARD;
    loop {
        if server.try_wait().expect("poll postgres").is_some() {
            return Err(());
        }
        let ready = Command::new(bin.join("pg_isready"))
            .args(["-q", "-h", "127.0.0.1", "-p", &port.to_string()])
            .status()
            .expect("run pg_isready");
        if ready.success() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(());
        }
        // Nothing announces readiness: pg_isready is polled.
        thread::sleep(Duration::from_millis(20));
    }
}

/// The directory holding `initdb`, `postgres`, `psql` and `pg_isready`.
fn find_binaries() -> Result<PathBuf, String> {
    const TOOLS: [&str; 4] = ["initdb", "postgres", "psql", "pg_isready"];
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(dir) = std::env::var_os("AIO_PG_BIN") {
        candidates.push(dir.into());
    }
    // Debian: /usr/lib/postgresql/<major>/bin, newest major first.
    let mut debian: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let major = e.file_name().to_str()?.parse().ok()?;
            Some((major, e.path().join("bin")))
        })
        .collect();
    debian.sort_by_key(|(major, _)| std::cmp::Reverse(*major));
    candidates.extend(debian.into_iter().map(|(_, dir)| dir));
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path));
    }
    let bin = candidates
        .into_iter()
        .find(|dir| TOOLS.iter().all(|tool| dir.join(tool).is_file()))
        .ok_or_else(|| {
            "no initdb, postgres, psql and pg_isready in $AIO_PG_BIN, \
             /usr/lib/postgresql/*/bin or PATH"
                .to_owned()
        })?;
    if rustix::process::geteuid().is_root() && server_user().is_none() {
        return Err(format!(
            "{} is there, but running as root needs a `postgres` user to run the server as",
            bin.display()
        ));
    }
    Ok(bin)
}

/// The files of the server's TLS certificate.
struct ServerCertificate {
    /// The test CA's certificate (PEM), which signed the server's.
    ca: PathBuf,
    /// The server's certificate (PEM), for `localhost` only: connecting
    /// to `127.0.0.1` with `verify-full` must fail on the name.
    cert: PathBuf,
    /// Its private key, private to the server's user as PostgreSQL
    /// requires.
    key: PathBuf,
}

/// A CA and a server certificate signed by it, written into `dir`.
fn server_certificate(dir: &Path, owner: Option<(u32, u32)>) -> ServerCertificate {
    let ca_key = rcgen::KeyPair::generate().expect("CA key");
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "aio sql test CA");
    let ca_cert = ca.self_signed(&ca_key).expect("CA certificate");
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let key = rcgen::KeyPair::generate().expect("server key");
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .expect("server params")
        .signed_by(&key, &issuer)
        .expect("server certificate");
    let files = ServerCertificate {
        ca: dir.join("ca.pem"),
        cert: dir.join("server.crt"),
        key: dir.join("server.key"),
    };
    fs::write(&files.ca, ca_cert.pem()).expect("write the CA");
    fs::write(&files.cert, cert.pem()).expect("write the certificate");
    fs::write(&files.key, key.serialize_pem()).expect("write the key");
    fs::set_permissions(&files.key, fs::Permissions::from_mode(0o600)).expect("chmod 600");
    if let Some((uid, gid)) = owner {
        for file in [&files.cert, &files.key] {
            chown(file, Some(uid), Some(gid)).expect("give the certificate to postgres");
        }
    }
    files
}

/// The `postgres` user's uid and gid when the tests run as root (the
/// server refuses root); `None` when they do not, or there is no such
/// user.
fn server_user() -> Option<(u32, u32)> {
    if !rustix::process::geteuid().is_root() {
        return None;
    }
    let passwd = fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        match fields.as_slice() {
            ["postgres", _, uid, gid, ..] => Some((uid.parse().ok()?, gid.parse().ok()?)),
            _ => None,
        }
    })
}

/// `command`, run as `owner` when there is one.
fn as_server_user(mut command: Command, owner: Option<(u32, u32)>) -> Command {
    if let Some((uid, gid)) = owner {
        command.uid(uid).gid(gid).env("HOME", "/tmp");
    }
    command
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("probe a free port")
        .port()
}

/// Fails the test with `what`'s output unless it succeeded.
fn check(output: &Output, what: &str) {
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
