//! Time: `sleep`, `sleep_until`, `timeout` (asyncio's `wait_for`) and
//! `interval`, all driven by the loop's timer heap.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::runtime::context;
use crate::runtime::core::Core;
use crate::runtime::timer::{Action, TimerId};

/// Waits until `duration` has passed (asyncio's `sleep`).
///
/// # Panics
///
/// When polled outside a running loop.
///
/// # Cancel safety
///
/// Dropping the future disarms its timer at once.
///
/// ```
/// aio::run(async {
///     let start = std::time::Instant::now();
///     aio::sleep(std::time::Duration::from_millis(5)).await;
///     assert!(start.elapsed() >= std::time::Duration::from_millis(5));
/// });
/// ```
pub fn sleep(duration: Duration) -> Sleep {
    // A duration too large to represent sleeps "forever" (about 30 years).
    let deadline = Instant::now()
        .checked_add(duration)
        .unwrap_or_else(|| Instant::now() + Duration::from_secs(86400 * 365 * 30));
    sleep_until(deadline)
}

/// Waits until `deadline`.
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        deadline,
        timer: None,
    }
}

/// The future of [`sleep`] and [`sleep_until`].
#[must_use = "a Sleep does nothing unless awaited"]
pub struct Sleep {
    deadline: Instant,
    /// The armed timer and the loop holding it, once first polled.
    timer: Option<(Rc<Core>, TimerId)>,
}

impl Sleep {
    /// When the sleep ends.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Moves the deadline (re-arming the timer on the next poll).
    pub fn reset(&mut self, deadline: Instant) {
        self.disarm();
        self.deadline = deadline;
    }

    fn disarm(&mut self) {
        if let Some((core, id)) = self.timer.take() {
            let old = core.timers.borrow_mut().cancel(id);
            drop(old); // the waker is dropped outside the borrow
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.deadline {
            self.disarm();
            return Poll::Ready(());
        }
        if let Some((core, id)) = &self.timer {
            if core.timers.borrow_mut().update_waker(*id, cx.waker()) {
                return Poll::Pending;
            }
        }
        let core = context::current();
        let id = core
            .timers
            .borrow_mut()
            .insert(self.deadline, Action::Wake(Some(cx.waker().clone())));
        self.timer = Some((core, id));
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        self.disarm();
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline)
            .finish()
    }
}

/// The error of [`timeout`]: the deadline passed first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("deadline has elapsed")]
pub struct Elapsed(());

impl From<Elapsed> for std::io::Error {
    fn from(e: Elapsed) -> Self {
        std::io::Error::new(std::io::ErrorKind::TimedOut, e)
    }
}

/// Runs `future` for at most `duration` (asyncio's `wait_for`). When time
/// runs out, the inner future is dropped — cancelled — and `Err(Elapsed)`
/// is returned.
///
/// ```
/// use std::time::Duration;
/// aio::run(async {
///     let slow = aio::sleep(Duration::from_secs(60));
///     assert!(aio::timeout(Duration::from_millis(5), slow).await.is_err());
///     assert_eq!(aio::timeout(Duration::from_secs(5), async { 7 }).await, Ok(7));
/// });
/// ```
pub fn timeout<F: Future>(duration: Duration, future: F) -> Timeout<F> {
    Timeout {
        future: Box::pin(future),
        sleep: sleep(duration),
    }
}

/// The future of [`timeout`].
#[must_use = "a Timeout does nothing unless awaited"]
pub struct Timeout<F> {
    /// Boxed so `Timeout` is `Unpin` without unsafe pin projection; one
    /// allocation per call, far below the cost of the timer itself.
    future: Pin<Box<F>>,
    sleep: Sleep,
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Poll::Ready(v) = self.future.as_mut().poll(cx) {
            return Poll::Ready(Ok(v));
        }
        match Pin::new(&mut self.sleep).poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed(()))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<F> fmt::Debug for Timeout<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timeout")
            .field("deadline", &self.sleep.deadline)
            .finish()
    }
}

/// Ticks every `period`, the first tick at once. Missed ticks are skipped,
/// not bunched: a tick that comes late moves the schedule.
///
/// # Panics
///
/// If `period` is zero.
///
/// ```
/// use std::time::Duration;
/// aio::run(async {
///     let mut every = aio::time::interval(Duration::from_millis(1));
///     for _ in 0..3 {
///         every.tick().await;
///     }
/// });
/// ```
pub fn interval(period: Duration) -> Interval {
    assert!(period > Duration::ZERO, "interval period must be non-zero");
    Interval {
        period,
        sleep: sleep_until(Instant::now()),
    }
}

/// The ticker of [`interval`].
#[derive(Debug)]
pub struct Interval {
    period: Duration,
    sleep: Sleep,
}

impl Interval {
    /// Waits for the next tick and returns its scheduled time.
    pub async fn tick(&mut self) -> Instant {
        let at = self.sleep.deadline();
        (&mut self.sleep).await;
        let now = Instant::now();
        let mut next = at + self.period;
        if next <= now {
            next = now + self.period;
        }
        self.sleep.reset(next);
        at
    }

    /// The period between ticks.
    pub fn period(&self) -> Duration {
        self.period
    }
}
