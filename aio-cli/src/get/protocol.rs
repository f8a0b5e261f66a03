//! `aio get --api protocol`: seed 000's `HTTPGetClientProtocol`, made real.
//!
//! The seed's protocol writes the request in `connection_made`, appends
//! every `data_received` to a buffer and completes a future with it in
//! `eof_received`; `make_request` awaits that future. Here the future is an
//! [`aio::sync::oneshot`] the protocol completes with the [`Outcome`], and
//! instead of holding the response the protocol parses it as it arrives
//! ([`ResponseParser`]) and writes the body to stdout's transport from
//! inside `data_received`.
//!
//! Flow control crosses the two transports: when stdout's write buffer
//! passes its high-water mark, the protocol pauses reading the socket and
//! sets an [`Event`]; the task awaiting the response then `drain`s stdout
//! and resumes reading. So memory stays bounded even when whoever reads our
//! stdout is slower than the server.

use std::future::{poll_fn, Future};
use std::io;
use std::ops::ControlFlow;
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::task::Poll;

use aio::sync::{oneshot, Event};
use aio::tls::TlsConnector;
use aio::transport::{ConnectOptions, Protocol, Transport};

use super::{interim_shown, judge, GetError, Next, Options, Outcome, Output};
use crate::http::{self, ResponseParser};
use crate::url::Url;

/// Fetches `url` once (over TLS with `tls`), printing to `out` as `opts`
/// says.
pub(super) async fn get(
    url: &Url,
    tls: Option<&TlsConnector>,
    opts: &Options,
    out: &Output,
) -> Result<Outcome, GetError> {
    let (done, mut response) = oneshot::channel();
    let stdout_behind = Rc::new(Event::new());
    let protocol = HttpGetClientProtocol {
        request: http::request(url),
        opts: *opts,
        transport: None,
        parser: ResponseParser::new(),
        stdout: out.transport().clone(),
        stdout_behind: stdout_behind.clone(),
        done: Some(done),
    };
    let options = ConnectOptions {
        tls: tls.cloned(),
        server_name: None,
    };
    let (transport, _protocol) = aio::transport::create_connection_with(
        move || protocol,
        url.connect_host(),
        url.port(),
        &options,
    )
    .await
    .map_err(GetError::Connect)?;
    loop {
        // Wait for the response, or for the protocol to say stdout is
        // behind (whichever comes first).
        let mut behind = pin!(stdout_behind.wait());
        let step = poll_fn(|cx| {
            if let Poll::Ready(result) = Pin::new(&mut response).poll(cx) {
                return Poll::Ready(Some(result));
            }
            behind.as_mut().poll(cx).map(|()| None)
        })
        .await;
        match step {
            Some(Ok(result)) => return result,
            Some(Err(oneshot::Canceled)) => {
                return Err(GetError::Io(io::Error::other(
                    "the connection ended without a response",
                )))
            }
            None => {
                out.drain().await?;
                tracing::trace!("stdout caught up: resuming the socket");
                stdout_behind.clear();
                transport.resume_reading();
            }
        }
    }
}

/// Seed 000's protocol: one GET, its response parsed as it arrives.
struct HttpGetClientProtocol {
    /// The request, written once connected.
    request: Vec<u8>,
    /// `-i`, `-L`, `-f`.
    opts: Options,
    /// The connection, once made (to close it, and for flow control).
    transport: Option<Transport>,
    /// Where in the response we are; holds at most a partial line.
    parser: ResponseParser,
    /// Stdout's transport: heads and body are written to it from the
    /// callbacks.
    stdout: Transport,
    /// Set (with the socket paused) when stdout fell behind or failed;
    /// cleared by the waiting task once it drained.
    stdout_behind: Rc<Event>,
    /// Completed once, with the outcome or the error (the seed's future).
    done: Option<oneshot::Sender<Result<Outcome, GetError>>>,
}

impl HttpGetClientProtocol {
    /// Completes the response (once) and closes the connection.
    fn complete(&mut self, result: Result<Outcome, GetError>) {
        if let Some(done) = self.done.take() {
            let _ = done.send(result);
        }
        if let Some(t) = &self.transport {
            t.close();
        }
    }

    /// Acts on one parser event; returns `Break` once the outcome is known.
    fn on_event(
        opts: &Options,
        stdout: &Transport,
        outcome: &mut Option<Outcome>,
        event: http::Event<'_>,
    ) -> ControlFlow<()> {
        match event {
            http::Event::Head(head) if head.is_interim() => {
                if let Some(shown) = interim_shown(&head, opts) {
                    stdout.write(shown);
                }
                ControlFlow::Continue(())
            }
            http::Event::Head(head) => {
                let (next, shown) = judge(&head, opts);
                if let Some(shown) = shown {
                    stdout.write(shown);
                }
                *outcome = match next {
                    Next::Body => return ControlFlow::Continue(()),
                    Next::Redirect(location) => Some(Outcome::Redirect(location)),
                    Next::Fail => Some(Outcome::Failed {
                        status: head.status(),
                        reason: head.reason().to_owned(),
                    }),
                };
                ControlFlow::Break(())
            }
            http::Event::Body(data) => {
                stdout.write(data);
                ControlFlow::Continue(())
            }
            http::Event::End => {
                *outcome = Some(Outcome::Complete);
                ControlFlow::Break(())
            }
        }
    }

    /// The server is done sending: the response must be complete now.
    fn finish(&mut self) {
        if self.done.is_none() {
            return;
        }
        let Self {
            parser,
            opts,
            stdout,
            ..
        } = self;
        let mut outcome = None;
        let result = parser.finish(&mut |e| Self::on_event(opts, stdout, &mut outcome, e));
        self.complete(match result {
            Ok(()) => Ok(outcome.unwrap_or(Outcome::Complete)),
            Err(e) => Err(e.into()),
        });
    }
}

impl Protocol for HttpGetClientProtocol {
    fn connection_made(&mut self, transport: &Transport) {
        transport.write(&self.request);
        self.transport = Some(transport.clone());
    }

    fn data_received(&mut self, data: &[u8]) {
        if self.done.is_none() {
            return;
        }
        let Self {
            parser,
            opts,
            stdout,
            ..
        } = self;
        let mut outcome = None;
        let result = parser.feed(data, &mut |e| Self::on_event(opts, stdout, &mut outcome, e));
        match (result, outcome) {
            (Err(e), _) => self.complete(Err(e.into())),
            (Ok(()), Some(outcome)) => self.complete(Ok(outcome)),
            (Ok(()), None) => {
                let (_, high) = self.stdout.write_buffer_limits();
                if self.stdout.write_buffer_size() > high || self.stdout.is_closing() {
                    tracing::trace!("stdout is behind: pausing the socket");
                    if let Some(t) = &self.transport {
                        t.pause_reading();
                    }
                    self.stdout_behind.set();
                }
            }
        }
    }

    fn eof_received(&mut self) -> bool {
        // As in the seed: the server's EOF completes the response.
        self.finish();
        false
    }

    fn connection_lost(&mut self, error: Option<io::Error>) {
        match error {
            Some(e) if self.done.is_some() => self.complete(Err(GetError::Io(e))),
            _ => self.finish(),
        }
    }
}
