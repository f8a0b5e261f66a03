//! The apps over TLS, as real processes: `aio echo` (streams and protocol
//! APIs) and `aio chat` with `--tls-cert/--tls-key`, `aio connect --tls`,
//! and `aio get https://...` (both APIs) against a TLS HTTP server run in
//! this process on aio's own TLS streams. Certificates come from rcgen,
//! written to a fresh directory per test. Waits are on events (a line, an
//! exit, EOF); the guards only turn a hang into a failure.

mod client;
mod support;

use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;

use aio::streams::{StreamOptions, StreamReader, StreamWriter};
use aio::tls::{TlsAcceptor, TlsConnector};
use client::{run, Finished, Interactive, TestServer};
use support::Server;

/// A CA, a certificate it signed for localhost and 127.0.0.1, and their
/// PEM files in a directory removed on drop.
struct Certs {
    dir: PathBuf,
    ca_pem: String,
    cert_pem: String,
    key_pem: String,
}

impl Certs {
    fn new() -> Certs {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "aio-cli-tls-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();

        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(rcgen::DnType::CommonName, "aio-cli test CA");
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca, ca_key);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
        let certs = Certs {
            dir,
            ca_pem: ca_cert.pem(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        };
        std::fs::write(certs.ca(), &certs.ca_pem).unwrap();
        std::fs::write(certs.cert(), &certs.cert_pem).unwrap();
        std::fs::write(certs.key(), &certs.key_pem).unwrap();
        certs
    }

    fn ca(&self) -> String {
        self.dir.join("ca.pem").display().to_string()
    }

    fn cert(&self) -> String {
        self.dir.join("cert.pem").display().to_string()
    }

    fn key(&self) -> String {
        self.dir.join("key.pem").display().to_string()
    }

    /// `--tls-cert CERT --tls-key KEY` for a server.
    fn server_args(&self) -> Vec<String> {
        vec![
            "--tls-cert".into(),
            self.cert(),
            "--tls-key".into(),
            self.key(),
        ]
    }

    /// aio's client settings trusting this CA.
    fn client(&self) -> StreamOptions {
        StreamOptions {
            client_tls: Some(TlsConnector::webpki_and_ca_pem(self.ca_pem.as_bytes()).unwrap()),
            ..Default::default()
        }
    }
}

impl Drop for Certs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `aio echo --api API --port 0` with the certificate.
fn tls_echo(api: &str, certs: &Certs) -> Server {
    let mut args = vec![
        "echo".to_owned(),
        "--api".into(),
        api.into(),
        "--port".into(),
        "0".into(),
    ];
    args.extend(certs.server_args());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Server::start(&args)
}

/// Sends `data` to `port` over TLS with aio's client while reading the
/// echo, half-closes, and returns what came back before EOF.
fn echo_through(port: u16, certs: &Certs, data: Vec<u8>) -> Vec<u8> {
    let options = certs.client();
    aio::run(async move {
        let (mut reader, writer) = aio::streams::open_connection_with("127.0.0.1", port, &options)
            .await
            .unwrap();
        let upload = aio::spawn(async move {
            for chunk in data.chunks(16 * 1024) {
                writer.write(chunk);
                writer.drain().await.unwrap();
            }
            writer.write_eof();
            writer // kept open until the echo is read
        });
        let back = reader.read_to_end().await.unwrap();
        drop(upload.await.unwrap());
        back
    })
}

/// `aio connect --tls` to `127.0.0.1:port`, trusting the test CA.
fn connect_tls(certs: &Certs, port: &str) -> Interactive {
    Interactive::start(&[
        "connect",
        "--tls",
        "--cacert",
        &certs.ca(),
        "127.0.0.1",
        port,
    ])
}

#[test]
fn echo_over_tls_with_streams_and_protocol_talks_to_aio_connect() {
    let certs = Certs::new();
    for api in ["streams", "protocol"] {
        let server = tls_echo(api, &certs);
        let port = server.addr.port().to_string();
        let mut connect = connect_tls(&certs, &port);
        connect.send("hello over TLS\n");
        connect.expect_line("hello over TLS");
        connect.send("again\n");
        connect.expect_line("again");
        // EOF on stdin: close_notify and a half-close; the server echoes
        // what is left and closes; connect exits 0.
        connect.close_stdin();
        assert_eq!(connect.next_line(), None);
        let (status, stderr) = connect.wait();
        assert!(status.success(), "{api}: {status:?} {stderr}");

        // A mebibyte each way with aio's own TLS client.
        let data = support::pattern(1 << 20, 7);
        let back = echo_through(server.addr.port(), &certs, data.clone());
        assert!(back == data, "{api}: the echo differs from what was sent");
    }
}

#[test]
fn a_failed_handshake_ends_only_that_connection() {
    let certs = Certs::new();
    let server = tls_echo("protocol", &certs);
    let port = server.addr.port().to_string();
    // Without --cacert the test CA is unknown: a one-line TLS error.
    let out = run(&["connect", "--tls", "127.0.0.1", &port]);
    assert_ne!(out.code(), 0);
    out.one_error_line(
        "aio connect: ",
        &format!(
            "TLS handshake with 127.0.0.1:{port} failed: invalid peer certificate: UnknownIssuer"
        ),
    );
    // The server saw the client's alert, logged it, and serves on.
    server.wait_for_log("TLS handshake with 127.0.0.1:");
    assert_eq!(
        echo_through(server.addr.port(), &certs, b"next".to_vec()),
        b"next"
    );
    // Plain text on a TLS port: that connection is closed, no other.
    let mut plain = server.connect();
    plain.write_all(b"hello?\n").unwrap();
    // An alert record (type 21), then EOF (or a reset).
    let mut answer = Vec::new();
    match plain.read_to_end(&mut answer) {
        Ok(_) => assert!(answer.is_empty() || answer[0] == 21, "{answer:?}"),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
    }
    assert_eq!(
        echo_through(server.addr.port(), &certs, b"still".to_vec()),
        b"still"
    );
}

#[test]
fn chat_over_tls_welcomes_a_tls_client() {
    let certs = Certs::new();
    let mut args = vec!["chat".to_owned(), "--port".into(), "0".into()];
    args.extend(certs.server_args());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = Server::start(&args);
    let port = server.addr.port().to_string();
    let mut alice = connect_tls(&certs, &port);
    alice.expect_line("Welcome! 1 user(s) online.");
    let mut bob = connect_tls(&certs, &port);
    bob.expect_line("Welcome! 2 user(s) online.");
    let joined = alice.next_line().unwrap();
    assert!(joined.starts_with("* 127.0.0.1:") && joined.ends_with(" joined (2 online)\n"));
    bob.send("/nick bob\n");
    alice.next_line().unwrap();
    bob.send("hi alice\n");
    alice.expect_line("<bob> hi alice");
    bob.send("/quit\n");
    assert_eq!(bob.next_line(), None);
}

// ------------------------------------------------------------------ aio get

/// A TLS HTTP server on aio streams, in a thread of this process:
/// answers every request with `hello over https`; returns its port.
fn https_server(certs: &Certs) -> u16 {
    let acceptor =
        TlsAcceptor::from_pem(certs.cert_pem.as_bytes(), certs.key_pem.as_bytes()).unwrap();
    let (port_tx, port_rx) = mpsc::channel();
    // Runs until the test process exits.
    thread::spawn(move || {
        aio::run(async move {
            let options = StreamOptions {
                server_tls: Some(acceptor),
                ..Default::default()
            };
            let server = aio::streams::start_server_with(respond, "127.0.0.1", 0, &options)
                .await
                .unwrap();
            port_tx.send(server.local_addrs()[0].port()).unwrap();
            server.serve_forever().await;
        });
    });
    port_rx.recv_timeout(client::GUARD).unwrap()
}

/// One HTTP/1.1 response per connection; the body is read-to-close
/// unless the request line says `/length`.
async fn respond(mut reader: StreamReader, writer: StreamWriter) {
    let Ok(request_line) = reader.readline().await else {
        return;
    };
    while let Ok(line) = reader.readline().await {
        if line.is_empty() || line == b"\r\n" {
            break;
        }
    }
    let body = b"hello over https\n";
    if request_line.starts_with(b"GET /length ") {
        writer
            .write(format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).as_bytes());
    } else {
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
    }
    writer.write(body);
    // Dropping the writer sends close_notify and closes.
}

fn get(api: &str, args: &[&str]) -> Finished {
    let mut all = vec!["get", "--api", api];
    all.extend_from_slice(args);
    run(&all)
}

#[test]
fn get_https_with_cacert_over_both_apis() {
    let certs = Certs::new();
    let port = https_server(&certs);
    for api in ["streams", "protocol"] {
        for url in [
            format!("https://127.0.0.1:{port}/"),
            format!("https://localhost:{port}/length"),
        ] {
            let out = get(api, &["--cacert", &certs.ca(), &url]);
            assert_eq!(out.code(), 0, "{api} {url}: {out:?}");
            assert_eq!(out.stdout_text(), "hello over https\n", "{api} {url}");
        }
        // From http to https with -L.
        let location = format!("https://127.0.0.1:{port}/length");
        let redirect = TestServer::canned(
            format!("HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n")
                .as_bytes(),
        );
        let out = get(api, &["-L", "--cacert", &certs.ca(), &redirect.url("/")]);
        assert_eq!(out.code(), 0, "{api}: {out:?}");
        assert_eq!(out.stdout_text(), "hello over https\n");
    }
}

#[test]
fn get_https_from_an_untrusted_server_is_a_one_line_tls_error() {
    let certs = Certs::new();
    let port = https_server(&certs);
    let url = format!("https://127.0.0.1:{port}/");
    for api in ["streams", "protocol"] {
        let out = get(api, &[&url]);
        assert_eq!(out.code(), 1, "{api}: {out:?}");
        assert!(out.stdout.is_empty());
        out.one_error_line(
            "aio get: ",
            &format!("TLS handshake with 127.0.0.1:{port} failed: invalid peer certificate: UnknownIssuer"),
        );
    }
    let out = get("streams", &["--cacert", "no-such-ca.pem", &url]);
    assert_eq!(out.code(), 77, "{out:?}");
    out.one_error_line("aio get: ", "cannot read certificate file no-such-ca.pem");
}
