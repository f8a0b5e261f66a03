//! Helpers shared by the integration tests.
//!
//! Everything here exists so tests can wait on *events* instead of sleeps:
//! a channel whose receiver also learns that every sender was dropped (so
//! "the task's future was dropped" is something to await), drop flags that
//! prove a future was cancelled, a recorder for the loop's error handler,
//! and small socket helpers. Each test file uses a subset.

#![allow(dead_code)]

/// A recording protocol for the transport tests.
pub mod protocol;

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use aio::net::{TcpListener, TcpStream};
use aio::runtime::ErrorContext;

// ---------------------------------------------------------------- channel

/// The receiver's view when no value is queued and every sender is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed;

struct Chan<T> {
    queue: VecDeque<T>,
    senders: usize,
    waker: Option<Waker>,
}

impl<T> Chan<T> {
    fn wake(&mut self) {
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }
}

/// The sending half of [`channel`]; clone it for several producers.
pub struct Sender<T> {
    chan: Rc<RefCell<Chan<T>>>,
}

/// The receiving half of [`channel`].
pub struct Receiver<T> {
    chan: Rc<RefCell<Chan<T>>>,
}

/// An unbounded single-loop channel. When the last `Sender` is dropped the
/// receiver gets `Err(Closed)`: a task that held a sender and was cancelled
/// (its future dropped) is observable that way, with no timeout involved.
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let chan = Rc::new(RefCell::new(Chan {
        queue: VecDeque::new(),
        senders: 1,
        waker: None,
    }));
    (Sender { chan: chan.clone() }, Receiver { chan })
}

impl<T> Sender<T> {
    /// Queues `value` and wakes the receiver.
    pub fn send(&self, value: T) {
        let mut chan = self.chan.borrow_mut();
        chan.queue.push_back(value);
        chan.wake();
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.chan.borrow_mut().senders += 1;
        Sender {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut chan = self.chan.borrow_mut();
        chan.senders -= 1;
        if chan.senders == 0 {
            chan.wake();
        }
    }
}

impl<T> Receiver<T> {
    /// The next value, or `Err(Closed)` once every sender is gone.
    pub fn recv(&mut self) -> impl Future<Output = Result<T, Closed>> + '_ {
        std::future::poll_fn(|cx| self.poll_recv(cx))
    }

    fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Result<T, Closed>> {
        let mut chan = self.chan.borrow_mut();
        if let Some(v) = chan.queue.pop_front() {
            return Poll::Ready(Ok(v));
        }
        if chan.senders == 0 {
            return Poll::Ready(Err(Closed));
        }
        chan.waker = Some(cx.waker().clone());
        Poll::Pending
    }

    /// Takes a value without waiting.
    pub fn try_recv(&self) -> Option<T> {
        self.chan.borrow_mut().queue.pop_front()
    }
}

/// Awaiting a receiver directly waits for its next value (one-shot use).
impl<T> Future for Receiver<T> {
    type Output = Result<T, Closed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.poll_recv(cx)
    }
}

// ------------------------------------------------------------- drop flags

/// Records whether a [`DropGuard`] made from it was dropped: put the guard
/// inside a future to prove the future itself was dropped (cancelled).
#[derive(Clone, Default)]
pub struct DropFlag(Rc<Cell<bool>>);

/// Sets its [`DropFlag`] when dropped.
pub struct DropGuard(Rc<Cell<bool>>);

impl DropFlag {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn guard(&self) -> DropGuard {
        DropGuard(self.0.clone())
    }

    pub fn dropped(&self) -> bool {
        self.0.get()
    }
}

impl Drop for DropGuard {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

// ---------------------------------------------------------------- futures

/// A future that never completes and registers no waker: whatever wakes a
/// task parked on it is a spurious wake.
pub async fn never() {
    std::future::pending::<()>().await
}

/// Wraps a future and counts how many times it is polled.
pub struct PollCount<F> {
    polls: Rc<Cell<u32>>,
    inner: Pin<Box<F>>,
}

impl<F: Future> PollCount<F> {
    pub fn new(polls: Rc<Cell<u32>>, inner: F) -> Self {
        PollCount {
            polls,
            inner: Box::pin(inner),
        }
    }
}

impl<F: Future> Future for PollCount<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.polls.set(self.polls.get() + 1);
        self.inner.as_mut().poll(cx)
    }
}

/// Polls `fut` exactly once and hands back what that poll returned.
pub async fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut *fut).poll(cx))).await
}

/// Lets every task that is ready, or becomes ready through another one,
/// run until all of them wait again: eight loop steps, as a chain of
/// wake-ups (a cancelled waiter's drop waking the next one) takes a step
/// per link. For ordering tests that must not sleep.
pub async fn settle() {
    for _ in 0..8 {
        aio::yield_now().await;
    }
}

/// Runs `fut`, failing the test if it has not finished within 30 s. The
/// bound turns a hang (a lost wake-up) into a failure; it is never the
/// thing a test asserts on.
pub async fn within<F: Future>(fut: F) -> F::Output {
    match aio::timeout(Duration::from_secs(30), fut).await {
        Ok(v) => v,
        Err(_) => panic!("the test did not finish within 30 s (a lost wake-up?)"),
    }
}

// ---------------------------------------------------------- error handler

/// Installs an error handler on the running loop that records every report.
pub fn record_errors() -> Rc<RefCell<Vec<ErrorContext>>> {
    let seen = Rc::new(RefCell::new(Vec::new()));
    record_errors_into(seen.clone());
    seen
}

/// As [`record_errors`], into a list created outside the loop, so a test
/// can also check what was reported while `aio::run` shut the loop down.
pub fn record_errors_into(seen: Rc<RefCell<Vec<ErrorContext>>>) {
    aio::set_error_handler(move |ctx| seen.borrow_mut().push(ctx.clone()));
}

// ---------------------------------------------------------------- sockets

/// A listener on a free loopback port.
pub fn local_listener() -> TcpListener {
    TcpListener::bind("127.0.0.1:0".parse().unwrap()).expect("bind 127.0.0.1:0")
}

/// Reads until `buf` is full; EOF first is `UnexpectedEof`.
pub async fn read_exact(stream: &TcpStream, buf: &mut [u8]) -> io::Result<()> {
    let mut filled = 0;
    while filled < buf.len() {
        match stream.read(&mut buf[filled..]).await? {
            0 => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("EOF after {filled} of {} bytes", buf.len()),
                ))
            }
            n => filled += n,
        }
    }
    Ok(())
}

/// Reads until EOF.
pub async fn read_to_end(stream: &TcpStream) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf).await? {
            0 => return Ok(out),
            n => out.extend_from_slice(&buf[..n]),
        }
    }
}

/// Echoes every byte until EOF (then closes); returns how many bytes it
/// echoed. Seed 001's per-connection coroutine.
pub async fn echo(stream: TcpStream) -> io::Result<u64> {
    let mut buf = [0u8; 4096];
    let mut total = 0;
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(total);
        }
        stream.write_all(&buf[..n]).await?;
        total += n as u64;
    }
}

/// Seed 001's server: accepts forever, one echo task per connection; each
/// connection's outcome is sent on `outcomes`.
pub async fn serve_echo(listener: TcpListener, outcomes: Sender<io::Result<u64>>) {
    loop {
        let (stream, _peer) = listener.accept().await.expect("accept");
        let outcomes = outcomes.clone();
        aio::spawn(async move { outcomes.send(echo(stream).await) });
    }
}

/// A path for a Unix socket that no other test (or process) uses.
pub fn unique_socket_path(tag: &str) -> std::path::PathBuf {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    std::env::temp_dir().join(format!("aio-test-{}-{tag}-{n}.sock", std::process::id()))
}
