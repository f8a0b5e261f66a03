//! Waiting for tasks from a signal handler: on Ctrl-C, let the running
//! work finish, then stop.
//!
//! Ports seed 001 (`001_2822c7fae0023b4d.txt`), the listing "waiting for
//! started tasks to finish": a handler can not `await`, so
//! `loop.add_signal_handler(SIGINT, lambda: asyncio.create_task(await_all_tasks()))`
//! starts a task that does, and `await_all_tasks` awaits every task.
//!
//! `aio::all_tasks()` returns [`aio::TaskRef`]s, which can cancel a task
//! but not await it (its result belongs to its `Task` handle), so the
//! program keeps its own list of the handles it wants to wait for. The
//! program's "main work" is a task that would run for an hour (think
//! `serve_forever`); once everything else has finished, the waiter cancels
//! it and `main` returns.
//!
//! The seed warns about this shape: if `await_all_tasks` itself fails,
//! nobody awaits *it*, and the failure is left behind in an abandoned task.
//! Run with `--fail` to see it: one delay panics, the waiter's `expect`
//! panics in turn, the loop reports `Task exception was never retrieved`,
//! and the program keeps running. A second Ctrl-C starts a new waiter,
//! which finds nothing left to wait for and stops the program. (Seed 001's
//! final listing, `graceful_echo`, avoids the shape altogether.)
//!
//! Try it:
//!
//! ```text
//! cargo run -p aio --example signal_await_tasks   # Ctrl-C: waits for the delays, then exits
//! cargo run -p aio --example signal_await_tasks -- --fail
//! ```

use std::cell::RefCell;
use std::io;
use std::rc::Rc;
use std::time::Duration;

use aio::signal::Signal;
use aio::{Task, TaskRef};

/// The seed's `utils.delay`; with `fail`, it panics instead of finishing.
async fn delay(seconds: u64, fail: bool) -> u64 {
    println!("sleeping for {seconds} second(s)");
    aio::sleep(Duration::from_secs(seconds)).await;
    if fail {
        panic!("delay({seconds}) failed");
    }
    println!("finished sleeping for {seconds} second(s)");
    seconds
}

/// The tasks to wait for before stopping.
type Work = Rc<RefCell<Vec<Task<u64>>>>;

/// Awaits every task in `work`, then stops the main work.
async fn await_all_tasks(work: Work, main_work: TaskRef) {
    let tasks = std::mem::take(&mut *work.borrow_mut());
    println!("Waiting for {} task(s) to finish...", tasks.len());
    for task in tasks {
        let seconds = task.await.expect("a delay task failed");
        println!("delay({seconds}) is done");
    }
    println!("All tasks finished; stopping.");
    main_work.cancel();
}

#[aio::main]
async fn main() -> io::Result<()> {
    tracing_subscriber::fmt().with_writer(io::stderr).init();
    let fail = std::env::args().any(|a| a == "--fail");

    let main_work = aio::spawn(aio::sleep(Duration::from_secs(3600)));
    let work: Work = Rc::new(RefCell::new(vec![
        aio::spawn(delay(3, false)),
        aio::spawn(delay(5, fail)),
        aio::spawn(delay(8, false)),
    ]));

    let stop = main_work.task_ref();
    let _handler = aio::signal::add_handler(Signal::Int, move || {
        println!("Got a SIGINT!");
        // The handler is a plain function: it starts a task that awaits.
        aio::spawn(await_all_tasks(work.clone(), stop.clone()));
    })?;
    println!("Press Ctrl-C to stop once the running tasks are done.");

    match main_work.await {
        Ok(()) => println!("The main work finished on its own."),
        Err(err) => println!("The main work ended: {err}."),
    }
    Ok(())
}
