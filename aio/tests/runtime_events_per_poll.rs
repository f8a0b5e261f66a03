//! `Builder::events_per_poll`: a loop step that takes fewer events than
//! are ready leaves the rest with the kernel and serves them in the next
//! steps. Edge-triggered readiness makes this worth a test: an event
//! taken but not handled would never be reported again.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

use aio::streams::{start_server, StreamReader, StreamWriter};

async fn echo(mut reader: StreamReader, writer: StreamWriter) {
    while let Ok(line) = reader.readline().await {
        if line.is_empty() {
            break;
        }
        writer.write(&line);
        if writer.drain().await.is_err() {
            break;
        }
    }
}

#[test]
fn one_event_per_step_still_serves_every_ready_connection() {
    const CLIENTS: usize = 8;
    let rt = aio::Runtime::builder()
        .events_per_poll(1)
        .build()
        .expect("runtime");
    rt.block_on(async {
        let server = start_server(echo, "127.0.0.1", 0).await.expect("server");
        let addr = server.local_addrs()[0];
        // The clients run on a thread of their own: every one connects and
        // sends before any reads, so their lines are ready together.
        let clients = aio::spawn_blocking(move || {
            // A lost event would leave a client waiting for its echo
            // forever: the read timeout turns that into a failure.
            let mut streams: Vec<TcpStream> = (0..CLIENTS)
                .map(|_| {
                    let s = TcpStream::connect(addr).expect("connect");
                    s.set_read_timeout(Some(Duration::from_secs(30)))
                        .expect("read timeout");
                    s
                })
                .collect();
            for (i, s) in streams.iter_mut().enumerate() {
                s.write_all(format!("line {i}\n").as_bytes()).expect("send");
            }
            streams
                .into_iter()
                .map(|s| {
                    let mut line = String::new();
                    BufReader::new(s)
                        .read_line(&mut line)
                        .expect("no echo within 30 s (an event lost?)");
                    line
                })
                .collect::<Vec<_>>()
        });
        let lines = clients.await.expect("clients");
        let expected: Vec<String> = (0..CLIENTS).map(|i| format!("line {i}\n")).collect();
        assert_eq!(lines, expected);
    });
}
