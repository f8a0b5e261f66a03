//! `add_signal_handler`: a SIGINT handler that cancels every task.
//!
//! Ports seed 001 (`001_2822c7fae0023b4d.txt`), the listing "adding a signal
//! handler that cancels all tasks": `cancel_tasks` prints that SIGINT came,
//! takes `asyncio.all_tasks()`, prints how many and cancels each; `main`
//! registers it with `loop.add_signal_handler(signal.SIGINT, cancel_tasks)`
//! and then `await delay(10)`.
//!
//! | asyncio                                  | aio                                   |
//! |------------------------------------------|---------------------------------------|
//! | `loop.add_signal_handler(SIGINT, f)`     | [`aio::signal::add_handler`]`(Signal::Int, f)` |
//! | `loop.remove_signal_handler(SIGINT)`     | dropping the returned guard           |
//! | `asyncio.all_tasks()`                    | [`aio::all_tasks`]                    |
//! | `task.cancel()`                          | [`aio::TaskRef::cancel`]              |
//! | `CancelledError` at the task's `await`   | the task's future is dropped; awaiting it gives `TaskError::Cancelled` |
//!
//! One difference: asyncio's `main` coroutine is itself a task, so the
//! seed's handler cancels `main` too and `asyncio.run` ends with
//! `CancelledError`. In aio the future given to `aio::run` is not a task
//! (`all_tasks` does not list it), so here the delays run as tasks and
//! `main` awaits them and reports how each ended.
//!
//! While the handler is installed Ctrl-C no longer kills the program: the
//! handler decides. Try it:
//!
//! ```text
//! cargo run -p aio --example signal_cancel_tasks   # press Ctrl-C within 10 seconds
//! ```

use std::io;
use std::time::Duration;

use aio::signal::Signal;

/// The seed's `utils.delay`: sleeps, saying so before and after.
async fn delay(seconds: u64) -> u64 {
    println!("sleeping for {seconds} second(s)");
    aio::sleep(Duration::from_secs(seconds)).await;
    println!("finished sleeping for {seconds} second(s)");
    seconds
}

/// Runs on the loop (not inside the OS signal handler), so it may use
/// everything the loop offers.
fn cancel_tasks() {
    println!("Got a SIGINT!");
    let tasks = aio::all_tasks();
    println!("Cancelling {} task(s).", tasks.len());
    for task in tasks {
        task.cancel();
    }
}

#[aio::main]
async fn main() -> io::Result<()> {
    let _handler = aio::signal::add_handler(Signal::Int, cancel_tasks)?;
    let tasks = [aio::spawn(delay(10)), aio::spawn(delay(5))];
    for task in tasks {
        let name = task.name();
        match task.await {
            Ok(seconds) => println!("{name}: delay({seconds}) finished"),
            Err(err) => println!("{name}: {err}"),
        }
    }
    Ok(())
}
