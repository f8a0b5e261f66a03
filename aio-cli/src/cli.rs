//! The command line: every app and its options, as DESIGN.md lists them.
//! Parsing only; each app's module turns its arguments into behaviour.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// asyncio's networking apps, rebuilt on the aio event loop.
#[derive(Debug, Parser)]
#[command(name = "aio", version, about, propagate_version = true)]
pub(crate) struct Cli {
    /// The app to run.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The apps.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Echo server: every byte a client sends comes back.
    Echo(EchoArgs),
    /// Line-based chat room for telnet/nc users.
    Chat(ChatArgs),
    /// HTTP/1.1 GET client (http and https).
    Get(GetArgs),
    /// telnet/nc: stdin to a TCP connection, the connection to stdout.
    Connect(ConnectArgs),
    /// Delay tasks typed at a terminal prompt.
    Delay(DelayArgs),
    /// SQL queries typed at a terminal prompt, run concurrently on a pool
    /// (SQLite, or PostgreSQL with --postgres).
    Sql(SqlArgs),
}

/// Where a server listens, and how it stops.
#[derive(Debug, Clone, Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub(crate) host: String,
    /// Port to listen on; 0 lets the kernel pick one (printed on stdout).
    #[arg(long, default_value_t = 8000)]
    pub(crate) port: u16,
    /// Seconds open connections get to finish after SIGINT/SIGTERM.
    #[arg(long, value_name = "SECONDS", default_value = "2", value_parser = parse_seconds)]
    pub(crate) grace: Duration,
}

/// A server's certificate and key, for TLS.
#[derive(Debug, Clone, Args)]
pub(crate) struct TlsServerArgs {
    /// Certificate chain (PEM); enables TLS.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub(crate) tls_cert: Option<PathBuf>,
    /// Private key (PEM) for --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub(crate) tls_key: Option<PathBuf>,
}

impl TlsServerArgs {
    /// True when TLS was asked for.
    pub(crate) fn enabled(&self) -> bool {
        self.tls_cert.is_some() || self.tls_key.is_some()
    }
}

/// Options of `aio echo`.
#[derive(Debug, Clone, Args)]
pub(crate) struct EchoArgs {
    /// Listening address, port and grace period.
    #[command(flatten)]
    pub(crate) serve: ServeArgs,
    /// Which aio layer serves the connections.
    #[arg(long, value_enum, default_value_t = EchoApi::Streams)]
    pub(crate) api: EchoApi,
    /// Longest line (newline included) the streams API accepts.
    #[arg(long, value_name = "BYTES", default_value_t = 65536, value_parser = parse_positive)]
    pub(crate) limit: usize,
    /// TLS certificate and key.
    #[command(flatten)]
    pub(crate) tls: TlsServerArgs,
    /// Event loops (threads) serving the port together, via SO_REUSEPORT.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = parse_positive)]
    pub(crate) workers: usize,
}

/// The layer `aio echo` is built on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum EchoApi {
    /// StreamReader/StreamWriter, line by line with readline.
    Streams,
    /// A Protocol on a Transport, bytes as they come.
    Protocol,
    /// The socket layer (sock_recv / sock_sendall), bytes as they come.
    Sockets,
}

/// Options of `aio chat`.
#[derive(Debug, Clone, Args)]
pub(crate) struct ChatArgs {
    /// Listening address, port and grace period.
    #[command(flatten)]
    pub(crate) serve: ServeArgs,
    /// Unsent bytes a client may fall behind by before it is disconnected.
    #[arg(long, value_name = "BYTES", default_value_t = 1_048_576, value_parser = parse_positive)]
    pub(crate) max_backlog: usize,
    /// TLS certificate and key.
    #[command(flatten)]
    pub(crate) tls: TlsServerArgs,
}

/// Options of `aio get`.
#[derive(Debug, Clone, Args)]
pub(crate) struct GetArgs {
    /// The http:// or https:// URL to fetch.
    pub(crate) url: String,
    /// Print the status line and headers before the body.
    #[arg(short = 'i', long = "include")]
    pub(crate) include: bool,
    /// Follow redirects (up to 10).
    #[arg(short = 'L', long = "location")]
    pub(crate) location: bool,
    /// Exit 22 on a status of 400 or more.
    #[arg(short = 'f', long = "fail")]
    pub(crate) fail: bool,
    /// Which aio layer makes the request.
    #[arg(long, value_enum, default_value_t = GetApi::Streams)]
    pub(crate) api: GetApi,
    /// Extra CA certificate(s) (PEM) to trust besides the webpki roots.
    #[arg(long, value_name = "FILE")]
    pub(crate) cacert: Option<PathBuf>,
    /// Seconds the whole request may take.
    #[arg(long, value_name = "SECONDS", default_value = "30", value_parser = parse_seconds)]
    pub(crate) timeout: Duration,
}

/// The layer `aio get` is built on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum GetApi {
    /// open_connection, readline, read.
    Streams,
    /// create_connection with a Protocol.
    Protocol,
}

/// Options of `aio connect`.
#[derive(Debug, Clone, Args)]
pub(crate) struct ConnectArgs {
    /// Host to connect to.
    pub(crate) host: String,
    /// Port to connect to.
    pub(crate) port: u16,
    /// Speak TLS to the server.
    #[arg(long)]
    pub(crate) tls: bool,
    /// Extra CA certificate(s) (PEM) to trust besides the webpki roots.
    #[arg(long, value_name = "FILE", requires = "tls")]
    pub(crate) cacert: Option<PathBuf>,
}

/// Options of `aio delay` (none yet).
#[derive(Debug, Clone, Args)]
pub(crate) struct DelayArgs {}

/// Options of `aio sql`.
#[derive(Debug, Clone, Args)]
#[command(after_help = "\
Each line is one statement, run on a free connection while more are typed; \
each is answered as it finishes: `Selected N rows by query: Q` or \
`Error from query: Q: MESSAGE`. A database without tables gets a demo \
`products` table (4000 rows); `SELECT pg_sleep(3)` is a slow query.

Examples:
  aio sql --db /tmp/shop.db
  aio sql --postgres postgres://user:password@localhost:5432/shop
  aio sql --postgres 'postgresql:///shop?host=/var/run/postgresql'
  aio sql --postgres 'postgres://me@db.example/shop?sslmode=verify-full&sslrootcert=ca.pem'")]
pub(crate) struct SqlArgs {
    /// SQLite database file (default: aio-products.db in the temporary
    /// directory).
    #[arg(long, value_name = "PATH", conflicts_with = "postgres")]
    pub(crate) db: Option<PathBuf>,
    /// PostgreSQL instead of SQLite: postgres://USER:PASSWORD@HOST:PORT/DB
    /// or a key=value string; HOST may be the server's socket directory.
    /// What it leaves out comes from PGHOST, PGPORT, PGUSER, PGDATABASE,
    /// PGPASSWORD and ~/.pgpass (or PGPASSFILE), as in psql. TLS as
    /// sslmode says (prefer by default; verify-full with sslrootcert=FILE
    /// checks the server's certificate).
    #[arg(long, value_name = "URL")]
    pub(crate) postgres: Option<String>,
    /// Connections in the pool (1 to 32): SQLite runs each query on a
    /// thread of its own, PostgreSQL waits for the server on the loop.
    #[arg(long, value_name = "N", default_value_t = 6, value_parser = parse_positive)]
    pub(crate) pool: usize,
}

/// A finite, non-negative number of seconds.
fn parse_seconds(text: &str) -> Result<Duration, String> {
    let secs: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number of seconds"))?;
    Duration::try_from_secs_f64(secs)
        .map_err(|_| format!("`{text}` is not a finite, non-negative number of seconds"))
}

/// A whole number of at least 1.
fn parse_positive(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("`{text}` is not a whole number of at least 1")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn seconds_and_counts_are_checked() {
        assert_eq!(parse_seconds("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_seconds("-1").is_err());
        assert!(parse_seconds("inf").is_err());
        assert!(parse_seconds("soon").is_err());
        assert_eq!(parse_positive("4"), Ok(4));
        assert!(parse_positive("0").is_err());
    }
}
