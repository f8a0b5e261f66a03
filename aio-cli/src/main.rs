//! `aio`: asyncio's networking apps on the aio event loop.
//!
//! One subcommand per app (`echo`, `chat`, `get`, `connect`, `delay`,
//! `sql`), each in its own module; `server` is the harness the servers
//! share. Results go to stdout, logs to stderr (`RUST_LOG` filters them,
//! `info` by default).

mod chat;
mod cli;
mod connect;
mod delay;
mod echo;
mod get;
mod http;
mod lines;
mod server;
mod sql;
mod terminal;
mod url;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    match cli.command {
        Command::Echo(args) => echo::run(args),
        Command::Chat(args) => chat::run(args),
        Command::Get(args) => get::run(args),
        Command::Connect(args) => connect::run(args),
        Command::Delay(args) => delay::run(args),
        Command::Sql(args) => sql::run(args),
    }
}

/// Logs to stderr, filtered by `RUST_LOG` (default `info`).
fn init_logging() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(filter)
        .init();
}
