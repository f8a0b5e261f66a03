//! `aio get`, run as a real process against HTTP servers written here:
//! every body framing, `-i`, `-L` (relative, absolute, loops), `-f`,
//! malformed and truncated responses, network errors and `--timeout`.
//! Every successful fetch is made with both `--api streams` and `--api
//! protocol`, which must print the same bytes and exit the same way.

mod client;

use std::io::{Read, Write};
use std::time::Duration;

use client::{refused_port, run, Finished, TestServer};

/// Runs `aio get ARGS...` with each `--api`, checks both give the same
/// stdout and exit code, and returns the streams run.
fn get_both(args: &[&str]) -> Finished {
    let mut runs = ["streams", "protocol"].map(|api| {
        let mut all = vec!["get", "--api", api];
        all.extend_from_slice(args);
        run(&all)
    });
    let [streams, protocol] = &mut runs;
    assert_eq!(
        streams.code(),
        protocol.code(),
        "exit codes differ: streams {streams:?}, protocol {protocol:?}"
    );
    assert!(
        streams.stdout == protocol.stdout,
        "stdout differs: streams {:?}, protocol {:?}",
        streams.stdout_text(),
        protocol.stdout_text()
    );
    assert_eq!(streams.stderr, protocol.stderr, "stderr differs");
    let [streams, _] = runs;
    streams
}

/// Bytes of every value, in a pattern that shows loss or reordering.
fn binary_body(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 256) as u8).collect()
}

/// A response with a Content-Length body.
fn with_length(body: &[u8]) -> Vec<u8> {
    let mut response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    response.extend_from_slice(body);
    response
}

/// `body` as chunks of the given sizes (cycled), with an extension on the
/// first chunk and a trailer after the last.
fn chunked(body: &[u8], sizes: &[usize]) -> Vec<u8> {
    let mut out = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    let mut rest = body;
    let mut i = 0;
    while !rest.is_empty() {
        let n = sizes[i % sizes.len()].min(rest.len());
        let ext = if i == 0 { ";name=value" } else { "" };
        out.extend_from_slice(format!("{n:x}{ext}\r\n").as_bytes());
        out.extend_from_slice(&rest[..n]);
        out.extend_from_slice(b"\r\n");
        rest = &rest[n..];
        i += 1;
    }
    out.extend_from_slice(b"0\r\nX-Checksum: none\r\n\r\n");
    out
}

#[test]
fn content_length_bodies_are_printed_byte_for_byte() {
    let body = binary_body(100_000);
    let server = TestServer::canned(&with_length(&body));
    let out = get_both(&[&server.url("/data?x=1")]);
    assert_eq!(out.code(), 0, "{out:?}");
    assert!(out.stdout == body, "the body differs");
    assert_eq!(out.stderr, "");
}

#[test]
fn the_request_names_host_agent_and_close() {
    let server = TestServer::canned(b"HTTP/1.1 204 No Content\r\n\r\n");
    let out = get_both(&[&server.url("/a%20b/c?q=1#fragment")]);
    assert_eq!((out.code(), out.stdout.len()), (0, 0), "{out:?}");
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    let expected = format!(
        "GET /a%20b/c?q=1 HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nUser-Agent: aio/0.1\r\n\
         Accept: */*\r\nConnection: close\r\n\r\n",
        server.port
    );
    assert_eq!(requests[0], expected);
    assert_eq!(requests[1], expected);
}

#[test]
fn chunked_bodies_are_decoded_with_extensions_and_trailers() {
    let body = binary_body(50_000);
    let server = TestServer::canned(&chunked(&body, &[1, 10, 4096, 333, 20_000]));
    let out = get_both(&[&server.url("/")]);
    assert_eq!(out.code(), 0, "{out:?}");
    assert!(out.stdout == body, "the body differs");
}

#[test]
fn bodies_without_length_end_when_the_server_closes() {
    let body = binary_body(70_000);
    let mut response = b"HTTP/1.0 200 OK\r\nServer: test\r\n\r\n".to_vec();
    response.extend_from_slice(&body);
    let server = TestServer::canned(&response);
    let out = get_both(&[&server.url("/")]);
    assert_eq!(out.code(), 0, "{out:?}");
    assert!(out.stdout == body, "the body differs");
}

#[test]
fn large_bodies_stream_through_in_every_framing() {
    // Several MiB: more than any socket or pipe buffer, so reading, stdout
    // writes and flow control all have to take turns.
    let body = binary_body(6 * 1024 * 1024 + 17);
    for response in [with_length(&body), chunked(&body, &[65_536, 1_000_003, 7])] {
        let server = TestServer::canned(&response);
        let out = get_both(&[&server.url("/big")]);
        assert_eq!(out.code(), 0, "{:?}", out.stderr);
        assert!(out.stdout == body, "the body differs");
    }
}

#[test]
fn a_response_trickled_byte_by_byte_parses_the_same() {
    let body = b"line one\nline two\n".to_vec();
    let mut response = b"HTTP/1.1 100 Continue\r\n\r\n".to_vec();
    response.extend_from_slice(&chunked(&body, &[3, 1, 5]));
    let server = TestServer::http(move |_, stream| {
        stream.set_nodelay(true).unwrap();
        for byte in &response {
            if stream.write_all(&[*byte]).is_err() {
                return;
            }
        }
    });
    let out = get_both(&[&server.url("/")]);
    assert_eq!(out.code(), 0, "{out:?}");
    assert_eq!(out.stdout, body);
}

#[test]
fn include_prints_the_head_as_received_then_the_body() {
    let head = "HTTP/1.1 200 Fine Thanks\r\nX-Odd-Case: Kept\r\nContent-Length: 3\r\n\r\n";
    let server = TestServer::canned(format!("{head}abcEXTRA").as_bytes());
    let out = get_both(&["-i", &server.url("/")]);
    assert_eq!(out.code(), 0, "{out:?}");
    assert_eq!(out.stdout_text(), format!("{head}abc"));
}

/// A server whose responses depend on the path: redirects and a final
/// page.
fn redirecting_server(other_port: Option<u16>) -> TestServer {
    TestServer::http(move |request, stream| {
        let path = request.split(' ').nth(1).unwrap_or_default();
        let response = match path {
            "/a/b/start" => "HTTP/1.1 302 Found\r\nLocation: ../next?x=1\r\nContent-Length: 9\r\n\r\nredirect1".to_owned(),
            "/a/next?x=1" => "HTTP/1.1 301 Moved\r\nLocation: /final\r\n\r\nredirect2 until close".to_owned(),
            "/final" => "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nfinal\n".to_owned(),
            "/away" => format!(
                "HTTP/1.1 307 Temporary Redirect\r\nLocation: http://127.0.0.1:{}/elsewhere\r\nContent-Length: 0\r\n\r\n",
                other_port.unwrap_or(1)
            ),
            "/loop" => "HTTP/1.1 308 Permanent Redirect\r\nLocation: /loop\r\nContent-Length: 0\r\n\r\n".to_owned(),
            _ => "HTTP/1.1 404 Not Found\r\nContent-Length: 10\r\n\r\nnot found\n".to_owned(),
        };
        let _ = stream.write_all(response.as_bytes());
    })
}

#[test]
fn location_follows_relative_redirects() {
    let server = redirecting_server(None);
    let out = get_both(&["-L", &server.url("/a/b/start")]);
    assert_eq!(out.code(), 0, "{out:?}");
    assert_eq!(out.stdout_text(), "final\n");
    let paths = server.paths();
    assert_eq!(paths[..3], ["/a/b/start", "/a/next?x=1", "/final"]);
}

#[test]
fn location_with_include_prints_every_head() {
    let server = redirecting_server(None);
    let out = get_both(&["-L", "-i", &server.url("/a/b/start")]);
    assert_eq!(out.code(), 0, "{out:?}");
    assert_eq!(
        out.stdout_text(),
        "HTTP/1.1 302 Found\r\nLocation: ../next?x=1\r\nContent-Length: 9\r\n\r\n\
         HTTP/1.1 301 Moved\r\nLocation: /final\r\n\r\n\
         HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nfinal\n"
    );
}

#[test]
fn location_follows_absolute_redirects_to_another_server() {
    let target = TestServer::canned(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nyes");
    let server = redirecting_server(Some(target.port));
    let out = get_both(&["-L", &server.url("/away")]);
    assert_eq!(out.code(), 0, "{out:?}");
    assert_eq!(out.stdout_text(), "yes");
    let requests = target.requests();
    assert!(requests[0].starts_with("GET /elsewhere HTTP/1.1\r\n"));
    assert!(requests[0].contains(&format!("\r\nHost: 127.0.0.1:{}\r\n", target.port)));
}

#[test]
fn without_location_a_redirect_is_the_answer() {
    let server = redirecting_server(None);
    let out = get_both(&[&server.url("/a/b/start")]);
    assert_eq!(out.code(), 0, "{out:?}");
    assert_eq!(out.stdout_text(), "redirect1");
    assert_eq!(server.paths().len(), 2, "one request per api");
}

#[test]
fn a_redirect_loop_stops_after_ten() {
    let server = redirecting_server(None);
    let out = get_both(&["-L", &server.url("/loop")]);
    assert_eq!(out.code(), 47, "{out:?}");
    out.one_error_line("aio get: ", "too many redirects");
    // The first request and ten redirects followed, per api.
    assert_eq!(server.paths().len(), 2 * 11);
}

#[test]
fn fail_turns_an_error_status_into_exit_22() {
    let server = redirecting_server(None);
    let out = get_both(&["-f", &server.url("/missing")]);
    assert_eq!(out.code(), 22, "{out:?}");
    assert_eq!(out.stdout, b"", "-f prints no body");
    out.one_error_line("aio get: ", "404 Not Found");
}

#[test]
fn an_error_status_without_fail_is_a_complete_response() {
    let server = redirecting_server(None);
    let out = get_both(&[&server.url("/missing")]);
    assert_eq!(out.code(), 0, "{out:?}");
    assert_eq!(out.stdout_text(), "not found\n");
    assert_eq!(out.stderr, "");
}

#[test]
fn a_malformed_status_line_is_an_error() {
    let server = TestServer::canned(b"HTTP/1.1 OK 200\r\nContent-Length: 0\r\n\r\n");
    let out = get_both(&[&server.url("/")]);
    assert_eq!(out.code(), 1, "{out:?}");
    out.one_error_line("aio get: ", "malformed status line");
    assert_eq!(out.stdout, b"");
}

#[test]
fn malformed_framing_is_an_error() {
    for (response, needle) in [
        (
            &b"HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n"[..],
            "malformed Content-Length",
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            "conflicting",
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n",
            "malformed chunk size",
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n0\r\n\r\n",
            "malformed chunk end",
        ),
        (
            b"HTTP/1.1 200 OK\r\nbroken header\r\n\r\n",
            "malformed header line",
        ),
    ] {
        let server = TestServer::canned(response);
        let out = get_both(&[&server.url("/")]);
        assert_eq!(out.code(), 1, "{out:?}");
        out.one_error_line("aio get: ", needle);
    }
}

#[test]
fn a_truncated_body_is_an_error_after_printing_what_came() {
    let server = TestServer::canned(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
    let out = get_both(&[&server.url("/")]);
    assert_eq!(out.code(), 1, "{out:?}");
    assert_eq!(out.stdout_text(), "abc");
    out.one_error_line("aio get: ", "after 3 of 10 body bytes");

    let server =
        TestServer::canned(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab");
    let out = get_both(&[&server.url("/")]);
    assert_eq!(out.code(), 1, "{out:?}");
    assert_eq!(out.stdout_text(), "ab");
    out.one_error_line("aio get: ", "inside the chunked body");
}

#[test]
fn no_response_at_all_is_an_error() {
    let server = TestServer::canned(b"");
    let out = get_both(&[&server.url("/")]);
    assert_eq!(out.code(), 1, "{out:?}");
    out.one_error_line("aio get: ", "without a response");
}

#[test]
fn an_endless_header_section_is_cut_at_64_kib() {
    let server = TestServer::http(|_, stream| {
        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\n");
        let line = format!("X-Padding: {}\r\n", "a".repeat(1000));
        // Far more than the limit; the client gives up long before.
        for _ in 0..1000 {
            if stream.write_all(line.as_bytes()).is_err() {
                return;
            }
        }
    });
    let out = get_both(&[&server.url("/")]);
    assert_eq!(out.code(), 1, "{out:?}");
    out.one_error_line("aio get: ", "larger than 64 KiB");
}

#[test]
fn a_refused_connection_is_a_one_line_error() {
    let url = format!("http://127.0.0.1:{}/", refused_port());
    let out = get_both(&[&url]);
    assert_eq!(out.code(), 1, "{out:?}");
    out.one_error_line("aio get: ", "refused");
}

#[test]
fn an_unknown_host_is_a_one_line_error() {
    let out = get_both(&["http://no-such-host.invalid/"]);
    assert_eq!(out.code(), 1, "{out:?}");
    out.one_error_line("aio get: ", "no-such-host.invalid");
}

#[test]
fn timeout_bounds_a_request_the_server_never_answers() {
    // The server reads the request, then waits for the client to go away.
    let server = TestServer::http(|_, stream| {
        let _ = stream.read_to_end(&mut Vec::new());
    });
    for api in ["streams", "protocol"] {
        let out = run(&["get", "--api", api, "--timeout", "0.3", &server.url("/")]);
        assert_eq!(out.code(), 28, "{out:?}");
        out.one_error_line("aio get: ", "timed out after 0.3 s");
        // A guard against hanging, not a measurement.
        assert!(out.elapsed < Duration::from_secs(10), "{:?}", out.elapsed);
    }
}

#[test]
fn timeout_also_bounds_a_body_that_stalls() {
    let server = TestServer::http(|_, stream| {
        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial");
        let _ = stream.read_to_end(&mut Vec::new());
    });
    let out = get_both(&["--timeout", "0.3", &server.url("/")]);
    assert_eq!(out.code(), 28, "{out:?}");
    assert_eq!(out.stdout_text(), "partial");
}

#[test]
fn bad_urls_are_refused_up_front() {
    // (https itself is tested in tests/tls.rs.)
    for bad in [
        "ftp://127.0.0.1/",
        "127.0.0.1:80/",
        "http://user:pw@127.0.0.1/",
    ] {
        let out = run(&["get", bad]);
        assert_eq!(out.code(), 3, "{out:?}");
        out.one_error_line("aio get: ", "bad URL");
    }
}

#[test]
fn a_redirect_to_https_is_followed() {
    // Nothing listens there: following it is a connect error (a full
    // http → https redirect is in tests/tls.rs).
    let server = TestServer::canned(
        b"HTTP/1.1 301 Moved\r\nLocation: https://127.0.0.1:1/\r\nContent-Length: 0\r\n\r\n",
    );
    let out = get_both(&["-L", &server.url("/")]);
    assert_eq!(out.code(), 1, "{out:?}");
    out.one_error_line("aio get: ", "connect to 127.0.0.1:1");
}

#[test]
fn a_closed_stdout_reader_does_not_hang_the_download() {
    // `aio get URL | head -c 10`: the reader of our stdout goes away.
    let body = binary_body(8 * 1024 * 1024);
    let server = TestServer::canned(&with_length(&body));
    for api in ["streams", "protocol"] {
        let mut child = client::aio(&["get", "--api", api, &server.url("/")])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let mut first = [0; 10];
        stdout.read_exact(&mut first).unwrap();
        drop(stdout);
        let status = client::wait_with_guard(&mut child);
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        assert_eq!(status.code(), Some(23), "{api}: {stderr}");
        assert!(
            stderr.contains("writing to stdout failed"),
            "{api}: {stderr}"
        );
    }
}
