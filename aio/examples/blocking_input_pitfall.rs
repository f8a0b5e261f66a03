//! The pitfall: reading stdin with a blocking call on the loop's thread
//! starves every task. Each number typed creates a delay task, but none of
//! them runs while `main` sits in `read_line`; the timestamps show how
//! late they start and finish.
//!
//! Ports seed 000 (`000_64d4e01f706e344e.txt`), the first listing of
//! "non-blocking command-line input": `while True: delay_time =
//! input(...)`, `asyncio.create_task(delay(int(delay_time)))`. The seed
//! notes that nothing but the prompt ever shows up, and that adding
//! `await asyncio.sleep(0)` (yielding to the loop) does not help, because
//! `input()` blocks the whole thread. Both are here: the default run is
//! the listing as written, and `--yield` adds the `sleep(0)`
//! ([`aio::yield_now`]).
//!
//! Why: the loop is one thread that runs one task at a time, switching
//! only when the running task returns `Pending` at an `.await`.
//! [`std::io::stdin`]`().read_line` is not an await: it is a `read(2)` that
//! parks the thread in the kernel until a line comes. While it waits the
//! loop cannot poll its timers or any other task. Without `--yield`,
//! `main` never awaits at all, so the tasks do not even start until stdin
//! ends and `main` finally awaits them. With `--yield`, each line typed
//! lets the loop take a step: the new task starts at once, but a delay
//! whose time ran out while `main` was blocked is only woken in that step,
//! queued behind `main`, which is back in `read_line` by then; it finishes
//! when the *next* line comes in (or at EOF), however late that is.
//!
//! The fixes: read stdin asynchronously ([`aio::streams::stdin`], see
//! `stdin_delay`), or move the blocking call to another thread with
//! [`aio::spawn_blocking`] (asyncio's `run_in_executor`).
//!
//! Try it; type `1`, wait a few seconds, type `5`, wait, type `5`, then
//! Ctrl-D:
//!
//! ```text
//! cargo run -p aio --example blocking_input_pitfall
//! cargo run -p aio --example blocking_input_pitfall -- --yield
//! (echo 1; sleep 2; echo 5; sleep 2; echo 5) | cargo run -p aio --example blocking_input_pitfall -- --yield
//! ```
//!
//! Each task prints when it was created, and how late it started and
//! finished; with a loop that is not starved those are a few milliseconds.

use std::io::{self, Write};
use std::time::{Duration, Instant};

/// The seed's `delay`, reporting how late the loop ran it. `typed` is when
/// `main` created the task, `t0` when the program started.
async fn delay(seconds: u64, typed: Instant, t0: Instant) {
    let started = Instant::now();
    println!(
        "[{}] sleeping for {seconds} s (created at {}: started {:.2} s late)",
        since(t0, started),
        since(t0, typed),
        (started - typed).as_secs_f64(),
    );
    let due = started + Duration::from_secs(seconds);
    aio::sleep(Duration::from_secs(seconds)).await;
    let finished = Instant::now();
    println!(
        "[{}] finished sleeping for {seconds} s (due at {}: {:.2} s late)",
        since(t0, finished),
        since(t0, due),
        (finished - due).as_secs_f64(),
    );
}

/// `at - t0` as seconds, for the timestamps.
fn since(t0: Instant, at: Instant) -> String {
    format!("{:6.2} s", (at - t0).as_secs_f64())
}

#[aio::main]
async fn main() -> io::Result<()> {
    let yield_to_loop = std::env::args().any(|arg| arg == "--yield");
    let t0 = Instant::now();
    let mut tasks = Vec::new();

    loop {
        print!("Enter a delay: ");
        io::stdout().flush()?;
        // input(): blocks this thread, and so the whole loop, until a line comes.
        let mut line = String::new();
        if io::stdin().read_line(&mut line)? == 0 {
            break;
        }
        let text = line.trim();
        let Ok(seconds) = text.parse::<u64>() else {
            // Where `int()` would raise and end the program.
            println!("Not a whole number of seconds: {text:?}");
            continue;
        };
        println!("[{}] created delay({seconds})", since(t0, Instant::now()));
        tasks.push(aio::spawn(delay(seconds, Instant::now(), t0)));
        if yield_to_loop {
            aio::yield_now().await; // asyncio.sleep(0)
        }
    }

    println!(
        "\n[{}] stdin closed: main awaits the tasks, and the loop finally runs",
        since(t0, Instant::now())
    );
    for task in tasks {
        let _ = task.await;
    }
    Ok(())
}
