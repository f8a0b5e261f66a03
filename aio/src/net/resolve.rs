//! Name resolution, off the loop: `getaddrinfo` blocks, so it runs on the
//! blocking pool (asyncio's `loop.getaddrinfo` does the same).

use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

use crate::runtime::spawn_blocking;

/// Resolves `host:port` to its addresses, in the resolver's order. A
/// literal IP address is returned without touching the pool.
///
/// # Errors
///
/// An `io::Error` naming the host when it cannot be resolved or has no
/// address.
pub async fn resolve(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    let trimmed = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = trimmed.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let owned = host.to_owned();
    let lookup = spawn_blocking(move || {
        (owned.as_str(), port)
            .to_socket_addrs()
            .map(|it| it.collect::<Vec<_>>())
    });
    let addrs = match lookup.await {
        Ok(result) => result,
        Err(e) => Err(io::Error::other(e.to_string())),
    };
    match addrs {
        Ok(addrs) if !addrs.is_empty() => Ok(addrs),
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("cannot resolve {host}: no addresses"),
        )),
        Err(e) => Err(io::Error::new(
            e.kind(),
            format!("cannot resolve {host}: {e}"),
        )),
    }
}

/// Adds what failed and where to an error, keeping its kind.
pub(crate) fn context(e: io::Error, what: impl std::fmt::Display) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}
