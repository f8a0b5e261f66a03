//! `aio echo`: every byte a client sends comes back.
//!
//! One server per aio layer, chosen with `--api`; all of them run on the
//! shared [`server`](crate::server) harness (announce, accept, graceful
//! shutdown, workers). Adding a layer means adding its arm to the `match`
//! in [`run`] and a handler for one accepted connection.

use std::io;
use std::net::SocketAddr;
use std::process::ExitCode;

use aio::net::TcpStream;
use clap::CommandFactory;

use crate::cli::{Cli, EchoApi, EchoArgs};
use crate::server::{self, Config};

/// How much one `read` of the sockets server takes at most.
const SOCKETS_READ_SIZE: usize = 16 * 1024;

/// Runs `aio echo` and returns the exit status.
pub(crate) fn run(args: EchoArgs) -> ExitCode {
    let config = Config {
        app: "echo",
        host: args.serve.host.clone(),
        port: args.serve.port,
        workers: args.workers,
        grace: args.serve.grace,
    };
    match args.api {
        EchoApi::Sockets => {
            if args.tls.enabled() {
                usage_command()
                    .error(
                        clap::error::ErrorKind::ArgumentConflict,
                        "TLS (--tls-cert/--tls-key) works with --api streams or protocol, \
                         not with --api sockets",
                    )
                    .exit();
            }
            server::serve(config, |_worker| echo_sockets)
        }
        EchoApi::Protocol | EchoApi::Streams => not_available(args.api),
    }
}

/// `aio echo`'s own command, so a usage error shows its usage line.
fn usage_command() -> clap::Command {
    let mut cli = Cli::command();
    cli.build();
    match cli.find_subcommand("echo") {
        Some(echo) => echo.clone(),
        None => cli,
    }
}

/// The layers whose echo server has not landed yet.
fn not_available(api: EchoApi) -> ExitCode {
    eprintln!("aio echo: --api {} is not available yet", api.name());
    ExitCode::from(2)
}

/// Seed 001's echo on the socket layer: read what came, write it all back,
/// until EOF. An error ends this connection only.
async fn echo_sockets(stream: TcpStream, peer: SocketAddr) {
    let mut buf = vec![0; SOCKETS_READ_SIZE];
    let result = async {
        loop {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                // The peer half-closed: everything it sent has been echoed,
                // so closing (on drop) sends our EOF after the last byte.
                return Ok::<(), io::Error>(());
            }
            stream.write_all(&buf[..n]).await?;
        }
    }
    .await;
    match result {
        Ok(()) => tracing::debug!("{peer}: closed"),
        Err(e) => log_connection_error(peer, &e),
    }
}

/// A peer going away abruptly is routine; anything else is worth a line.
fn log_connection_error(peer: SocketAddr, e: &io::Error) {
    match e.kind() {
        io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe => {
            tracing::debug!("{peer}: connection reset by peer ({e})");
        }
        _ => tracing::info!("{peer}: connection error: {e}"),
    }
}
