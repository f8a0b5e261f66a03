//! Opening one PostgreSQL connection on the aio loop: the URL's hosts
//! become TCP addresses or Unix socket paths, aio's [`TcpStream`] or
//! [`UnixStream`] connects, and tokio-postgres speaks its protocol over
//! that stream (`Config::connect_raw`, through aio's `tokio-io` traits).
//! The `Connection` half, which does the socket I/O for the `Client`, is
//! spawned on the loop as a task of its own. A [`Canceller`] sends
//! PostgreSQL's cancel request for a connection's running query, over a
//! new connection to the same server socket.
//!
//! `connect_raw` takes the socket as given, so the parts of the URL that
//! say where and how long are read here, as libpq reads them: every host
//! (a name, an address, or a directory holding the server's socket) with
//! its port or the single one (default 5432), `hostaddr`, and
//! `connect_timeout`. With no host at all, the Unix socket directory is
//! libpq's default: `/var/run/postgresql` (Debian's), or `/tmp` where that
//! does not exist. What the URL leaves out comes from the `PG*` variables
//! and the password file, as in libpq (`environment`). TLS is rustls, with
//! libpq's `sslmode` (`tls`); cancel requests go over TLS when their
//! session did.

use std::cell::RefCell;
use std::fmt;
use std::future::poll_fn;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::task::{ready, Poll};
use std::time::Duration;

use aio::net::{TcpStream, UnixStream};
use aio::tls::rustls;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::tls::TlsConnect;
use tokio_postgres::{AsyncMessage, CancelToken, Client, Config, Connection, NoTls};

use super::describe;
use super::environment::{self, Login};
use super::tls::{RustlsConnect, Tls};

/// The port when the URL names none.
pub(super) const DEFAULT_PORT: u16 = 5432;

/// Where the server's Unix socket is looked for when the URL names no
/// host, in order.
const DEFAULT_SOCKET_DIRS: [&str; 2] = ["/var/run/postgresql", "/tmp"];

/// A parsed `--postgres` URL: how to log in, and where to try, in order.
pub(super) struct Target {
    /// User, password, database and options, for the startup message.
    config: Config,
    /// The URL's hosts, tried in turn until one answers.
    places: Vec<Place>,
    /// Where to look for a password when neither the URL nor
    /// `PGPASSWORD` gives one.
    password_file: Option<PathBuf>,
    /// Why that file was not used, once it was found unusable: told once,
    /// with the session's warnings or with the error it may explain.
    file_problem: RefCell<Option<String>>,
    /// `sslmode` and the certificate checks it asks for.
    tls: Tls,
}

/// One address a server may be listening on.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Place {
    /// A host name or IP address and a port.
    Tcp {
        /// Resolved off the loop by [`TcpStream::connect`].
        host: String,
        /// The server's port.
        port: u16,
    },
    /// A Unix socket: `DIR/.s.PGSQL.PORT`, as the server names it.
    Unix {
        /// The socket file's path.
        socket: PathBuf,
    },
}

/// An open connection.
pub(super) struct Link {
    /// The client half; its connection's driver is a task of its own.
    pub(super) client: Client,
    /// The server socket it reached, where a cancel request must go.
    peer: Peer,
}

/// The server socket a connection reached: for TCP the address that
/// answered, not the name, which may resolve to others.
#[derive(Debug, Clone)]
enum Peer {
    /// A TCP address, and the TLS the connection used, if any.
    Tcp(SocketAddr, Option<RustlsConnect>),
    /// A Unix socket's path.
    Unix(PathBuf),
}

impl Link {
    /// What cancels the query this connection runs, from anywhere.
    pub(super) fn canceller(&self) -> Canceller {
        Canceller {
            token: self.client.cancel_token(),
            peer: self.peer.clone(),
        }
    }
}

/// Cancels whatever query one connection is running.
pub(super) struct Canceller {
    /// The server's key for that connection's session.
    token: CancelToken,
    /// Where that session's server listens.
    peer: Peer,
}

impl Canceller {
    /// Sends the cancel request (the server interrupts the query, if it is
    /// still running, with `canceling statement due to user request`).
    ///
    /// # Errors
    ///
    /// When the server cannot be reached.
    pub(super) async fn cancel(&self) -> Result<(), String> {
        let sent = match &self.peer {
            // Over TLS when the session was: the token carries its sslmode.
            Peer::Tcp(addr, tls) => {
                let stream = TcpStream::connect_addr(*addr)
                    .await
                    .map_err(|e| e.to_string())?;
                match tls {
                    Some(tls) => self.token.cancel_query_raw(stream, tls.clone()).await,
                    None => self.token.cancel_query_raw(stream, NoTls).await,
                }
            }
            Peer::Unix(path) => {
                let stream = UnixStream::connect(path).await.map_err(|e| e.to_string())?;
                self.token.cancel_query_raw(stream, NoTls).await
            }
        };
        sent.map_err(|e| describe(&e))
    }
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // `[::1]:5432`, so the port is not read as part of the address.
            Place::Tcp { host, port } if host.contains(':') => write!(f, "[{host}]:{port}"),
            Place::Tcp { host, port } => write!(f, "{host}:{port}"),
            Place::Unix { socket } => write!(f, "{}", socket.display()),
        }
    }
}

impl Target {
    /// Parses a `postgres://` or `postgresql://` URL (or a libpq
    /// `key=value` string).
    ///
    /// # Errors
    ///
    /// When tokio-postgres cannot parse it, or its hosts, addresses and
    /// ports do not pair up. The message never repeats the URL, which may
    /// hold a password.
    pub(super) fn parse(url: &str) -> Result<Target, String> {
        Target::parse_with(url, |name| std::env::var(name).ok())
    }

    /// [`Target::parse`], with the environment read by `var`.
    fn parse_with(url: &str, var: impl Fn(&str) -> Option<String>) -> Result<Target, String> {
        let (url, tls) = Tls::take_from(url, &var)?;
        let mut config = Config::from_str(&url)
            .map_err(|e| format!("invalid --postgres URL: {}", describe(&e)))?;
        config.ssl_mode(tls.ssl_mode());
        environment::apply(&mut config, &var)?;
        let places = places(&config, Path::exists)?;
        let password_file = environment::password_file(&var);
        Ok(Target {
            config,
            places,
            password_file,
            file_problem: RefCell::new(None),
            tls,
        })
    }

    /// The login settings for `place`: the target's, with the password
    /// file's password for that place when nothing else gave one. A file
    /// that cannot be used is skipped, and the server then says whether it
    /// wanted a password.
    fn config_for(&self, place: &Place) -> Config {
        let mut config = self.config.clone();
        if let Some(password) = self.password_from_file(place) {
            config.password(password);
        }
        config
    }

    /// The password file's password for logging in at `place`, when the
    /// URL and the environment gave none.
    fn password_from_file(&self, place: &Place) -> Option<String> {
        let file = self.password_file.as_ref()?;
        if self.config.get_password().is_some() {
            return None;
        }
        let user = self.config.get_user()?;
        let (host, port) = match place {
            Place::Tcp { host, port } => (host.clone(), *port),
            Place::Unix { socket } => (file_host(socket), socket_port(socket)),
        };
        let login = Login {
            host: &host,
            port,
            database: self.config.get_dbname().unwrap_or(user),
            user,
        };
        environment::password_from_file(file, &login).unwrap_or_else(|problem| {
            self.file_problem.replace(Some(problem));
            None
        })
    }

    /// Why the password file was not used, if it was not; told once.
    pub(super) fn take_file_problem(&self) -> Option<String> {
        self.file_problem.take()
    }

    /// The database's name for the screen: the URL's, or else the user's
    /// (PostgreSQL's default), when the URL names either.
    pub(super) fn database(&self) -> Option<&str> {
        self.config.get_dbname().or(self.config.get_user())
    }

    /// Opens a connection: tries each place in turn and logs in on the
    /// first that answers; the connection's driver is spawned on the loop.
    /// Returns the connection and, for the screen, where it went.
    ///
    /// # Errors
    ///
    /// One line naming each place tried and why it failed: refused,
    /// unknown host, bad password, no such database, timed out.
    pub(super) async fn connect(&self) -> Result<(Link, String), String> {
        let mut failures = Vec::new();
        for place in &self.places {
            let attempt = self.connect_to(place);
            let outcome = match self.config.get_connect_timeout() {
                Some(&limit) => aio::timeout(limit, attempt)
                    .await
                    .unwrap_or_else(|_| Err(format!("timed out after {}", seconds(limit)))),
                None => attempt.await,
            };
            match outcome {
                Ok(link) => return Ok((link, place.to_string())),
                Err(message) => failures.push(format!("PostgreSQL at {place}: {message}")),
            }
        }
        // A login refused for want of a password the file would have given.
        failures.extend(self.take_file_problem());
        Err(failures.join("; "))
    }

    /// Connects to `place` and logs in.
    async fn connect_to(&self, place: &Place) -> Result<Link, String> {
        let (client, peer) = match place {
            Place::Tcp { host, port } => {
                let stream = TcpStream::connect(host, *port)
                    .await
                    .map_err(|e| e.to_string())?;
                let peer = stream.peer_addr().map_err(|e| e.to_string())?;
                let mut tls = self.tls.connector(host)?;
                let mut config = self.config_for(place);
                let client = match &tls {
                    Some(connector) => match log_in(&config, stream, connector.clone()).await {
                        // libpq's `prefer`: a server that said yes to TLS
                        // but whose handshake failed is tried once more,
                        // on a new connection, without it.
                        Err(e) if self.tls.falls_back() && is_handshake_failure(&e) => {
                            tracing::debug!(
                                "PostgreSQL at {place}: {}; again without TLS",
                                describe(&e)
                            );
                            let stream = TcpStream::connect_addr(peer)
                                .await
                                .map_err(|e| e.to_string())?;
                            config.ssl_mode(SslMode::Disable);
                            tls = None;
                            log_in(&config, stream, NoTls).await
                        }
                        other => other,
                    },
                    None => log_in(&config, stream, NoTls).await,
                }
                .map_err(|e| describe(&e))?;
                (client, Peer::Tcp(peer, tls))
            }
            Place::Unix { socket } => {
                let stream = UnixStream::connect(socket)
                    .await
                    .map_err(|e| e.to_string())?;
                // No TLS over a Unix socket, as in libpq.
                let mut config = self.config_for(place);
                config.ssl_mode(SslMode::Disable);
                let client = log_in(&config, stream, NoTls)
                    .await
                    .map_err(|e| describe(&e))?;
                (client, Peer::Unix(socket.clone()))
            }
        };
        Ok(Link { client, peer })
    }
}

/// The startup and authentication exchange over `stream`, with `tls` when
/// the server agrees to it; then the connection's driver runs as a task of
/// its own until the client is dropped or the server goes away.
async fn log_in<S, T>(config: &Config, stream: S, tls: T) -> Result<Client, tokio_postgres::Error>
where
    S: AsyncRead + AsyncWrite + Unpin + 'static,
    T: TlsConnect<S>,
    T::Stream: 'static,
{
    let (client, connection) = config.connect_raw(stream, tls).await?;
    aio::spawn(drive(connection));
    Ok(client)
}

/// True when `err` is the TLS handshake failing (rustls's error, which
/// tokio-rustls wraps in an `io::Error`), not the server refusing the login.
fn is_handshake_failure(err: &tokio_postgres::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(err);
    while let Some(e) = cause {
        let inner = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .map(|inner| inner as &(dyn std::error::Error + 'static));
        if e.is::<rustls::Error>() || inner.is_some_and(|i| i.is::<rustls::Error>()) {
            return true;
        }
        cause = e.source();
    }
    false
}

/// The places to try for `config`, as libpq pairs them: host `i` (or
/// `hostaddr` `i`, which then wins) with port `i`, or with the only port.
/// `exists` says whether a default socket directory is there.
fn places(config: &Config, exists: impl Fn(&Path) -> bool) -> Result<Vec<Place>, String> {
    let (hosts, addrs, ports) = (
        config.get_hosts(),
        config.get_hostaddrs(),
        config.get_ports(),
    );
    if !hosts.is_empty() && !addrs.is_empty() && hosts.len() != addrs.len() {
        return Err(format!(
            "invalid --postgres URL: {} hosts but {} hostaddrs",
            hosts.len(),
            addrs.len()
        ));
    }
    let count = hosts.len().max(addrs.len());
    if ports.len() > 1 && ports.len() != count.max(1) {
        return Err(format!(
            "invalid --postgres URL: {} ports for {} hosts",
            ports.len(),
            count.max(1)
        ));
    }
    let port = |i: usize| ports.get(i).or(ports.first()).copied();
    // No host, or an empty one (`postgres://:5433/db`), means the local
    // server's socket, as in libpq.
    let default_dir = || {
        DEFAULT_SOCKET_DIRS
            .iter()
            .map(Path::new)
            .find(|dir| exists(dir))
            .unwrap_or(Path::new(DEFAULT_SOCKET_DIRS[0]))
    };
    if count == 0 {
        return Ok(vec![unix_place(default_dir(), port(0))]);
    }
    if !addrs.is_empty() {
        // An address was given for each host: it is where to connect.
        return Ok(addrs
            .iter()
            .enumerate()
            .map(|(i, addr)| Place::Tcp {
                host: addr.to_string(),
                port: port(i).unwrap_or(DEFAULT_PORT),
            })
            .collect());
    }
    Ok(hosts
        .iter()
        .enumerate()
        .map(|(i, host)| match host {
            Host::Tcp(host) if host.is_empty() => unix_place(default_dir(), port(i)),
            Host::Tcp(host) => Place::Tcp {
                host: host.clone(),
                port: port(i).unwrap_or(DEFAULT_PORT),
            },
            Host::Unix(dir) => unix_place(dir, port(i)),
        })
        .collect())
}

/// The server's socket in `dir` for `port`.
fn unix_place(dir: &Path, port: Option<u16>) -> Place {
    let port = port.unwrap_or(DEFAULT_PORT);
    Place::Unix {
        socket: dir.join(format!(".s.PGSQL.{port}")),
    }
}

/// How the password file names the host of a Unix socket: `localhost`
/// for a default directory, as libpq does, or else the directory.
fn file_host(socket: &Path) -> String {
    match socket.parent() {
        Some(dir) if DEFAULT_SOCKET_DIRS.iter().any(|d| Path::new(d) == dir) => {
            "localhost".to_string()
        }
        Some(dir) => dir.display().to_string(),
        None => "localhost".to_string(),
    }
}

/// The port in a server socket's name (`.s.PGSQL.5432`).
fn socket_port(socket: &Path) -> u16 {
    socket
        .extension()
        .and_then(|ext| ext.to_str())
        .and_then(|port| port.parse().ok())
        .unwrap_or(DEFAULT_PORT)
}

/// `limit` in seconds, for a message.
fn seconds(limit: Duration) -> String {
    format!("{} s", limit.as_secs_f64())
}

/// Drives a connection: its socket I/O for the client's queries, until
/// the client is dropped (a clean close) or the connection fails. The
/// server's notices (`there is no transaction in progress`, a function's
/// `RAISE NOTICE`) are logged at debug level rather than at info, where
/// tokio-postgres's own driver would put them between the answers.
async fn drive<S, T>(mut connection: Connection<S, T>)
where
    S: AsyncRead + AsyncWrite + Unpin,
    T: AsyncRead + AsyncWrite + Unpin,
{
    let ended = poll_fn(|cx| loop {
        match ready!(connection.poll_message(cx)) {
            Some(Ok(AsyncMessage::Notice(notice))) => {
                tracing::debug!("PostgreSQL {}: {}", notice.severity(), notice.message());
            }
            // Notifications: only a typed `LISTEN` asks for them.
            Some(Ok(_)) => {}
            Some(Err(e)) => return Poll::Ready(Err(e)),
            None => return Poll::Ready(Ok(())),
        }
    })
    .await;
    // The query in flight, if any, gets the error too, and reports it.
    if let Err(e) = ended {
        tracing::debug!("PostgreSQL connection lost: {}", describe(&e));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn places_of(url: &str) -> Result<Vec<String>, String> {
        let config = Config::from_str(url).map_err(|e| describe(&e))?;
        let places = places(&config, |dir| dir == Path::new("/tmp"))?;
        Ok(places.iter().map(Place::to_string).collect())
    }

    #[test]
    fn hosts_ports_and_sockets_pair_up_as_in_libpq() {
        let ok = |url: &str| places_of(url).unwrap();
        assert_eq!(ok("postgres://db.example:6000/shop"), ["db.example:6000"]);
        assert_eq!(ok("postgres://127.0.0.1/shop"), ["127.0.0.1:5432"]);
        assert_eq!(ok("postgres://[::1]:5433/shop"), ["[::1]:5433"]);
        assert_eq!(
            ok("postgres://a:1,b:2/shop"),
            ["a:1", "b:2"],
            "each host its port"
        );
        assert_eq!(
            ok("host=a,b port=7 dbname=shop"),
            ["a:7", "b:7"],
            "one port for all"
        );
        assert_eq!(
            ok("postgres://%2Fvar%2Frun%2Fpg:5433/shop"),
            ["/var/run/pg/.s.PGSQL.5433"]
        );
        assert_eq!(
            ok("postgres:///shop?host=/run/pg"),
            ["/run/pg/.s.PGSQL.5432"]
        );
        assert_eq!(
            ok("postgres://name/shop?hostaddr=127.0.0.2"),
            ["127.0.0.2:5432"],
            "hostaddr is where to connect"
        );
        // No host: the first default socket directory that exists.
        assert_eq!(ok("postgres:///shop"), ["/tmp/.s.PGSQL.5432"]);
        assert_eq!(ok("postgres://:6543/shop"), ["/tmp/.s.PGSQL.6543"]);
        assert_eq!(ok("host=localhost dbname=shop"), ["localhost:5432"]);
    }

    #[test]
    fn urls_that_do_not_pair_up_are_refused_without_echoing_them() {
        let err = places_of("host=a,b port=1,2,3").unwrap_err();
        assert!(err.contains("3 ports for 2 hosts"), "{err}");
        let err = Target::parse("postgres://u:secret@host:notaport/db")
            .err()
            .unwrap();
        assert!(err.starts_with("invalid --postgres URL: "), "{err}");
        assert!(!err.contains("secret"), "{err}");
    }
}
