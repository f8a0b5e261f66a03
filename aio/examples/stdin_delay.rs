//! Async stdin: each number typed starts a task that sleeps that many
//! seconds, printing when it starts and when it finishes, while the next
//! line is already being read.
//!
//! Ports seed 000 (`000_64d4e01f706e344e.txt`), the listings
//! `create_stdin_reader` (a `StreamReader` fed by `StreamReaderProtocol`
//! through `loop.connect_read_pipe(..., sys.stdin)`) and the `main` that
//! loops `delay_time = await stdin_reader.readline()` and
//! `asyncio.create_task(delay(int(delay_time)))`. The seed's `utils.delay`
//! prints "sleeping for N s" and, after `asyncio.sleep(N)`, that the
//! sleep has finished.
//!
//! | asyncio                                      | aio                              |
//! |----------------------------------------------|----------------------------------|
//! | `create_stdin_reader()`: `connect_read_pipe` + `StreamReaderProtocol` | [`aio::streams::stdin`], built the same way |
//! | `await stdin_reader.readline()`              | [`StreamReader::readline`]       |
//! | `asyncio.create_task(delay(int(line)))`      | [`aio::spawn`]`(delay(seconds))` |
//!
//! Where the seed crashes, this does not: `int(line)` raises on anything
//! but an integer, killing `main`; here the input is any finite number of
//! seconds from 0 to a day (`1`, `0.5`, `2e1`), and anything else gets
//! `Not a number: TEXT` (a line too long for the reader's 64 KiB limit
//! included); blank lines are skipped. At EOF (Ctrl-D, or the end of a
//! pipe) the seed loops on `b''` for ever; here it waits for the delays
//! still running, then exits.
//!
//! In a terminal you will see what the seed goes on to describe: the
//! terminal echoes your typing itself (it is in canonical, "cooked" mode),
//! so a task's message can land in the middle of the line you are typing.
//! `delay_terminal` fixes that with a cbreak terminal.
//!
//! Try it:
//!
//! ```text
//! cargo run -p aio --example stdin_delay                       # type 3, 1, 0.5, abc
//! printf '2\n1\nabc\n' | cargo run -p aio --example stdin_delay
//! ```
//!
//! [`StreamReader::readline`]: aio::streams::StreamReader::readline

use std::io;
use std::time::Duration;

use aio::streams::StreamError;

/// The longest delay accepted: a day.
const MAX_DELAY: f64 = 86_400.0;

/// The seed's `utils.delay`.
async fn delay(text: String, seconds: Duration) {
    println!("sleeping for {text} s");
    aio::sleep(seconds).await;
    println!("finished sleeping for {text} s");
}

/// `TEXT` as a delay: a finite number of seconds from 0 to [`MAX_DELAY`].
fn parse_delay(text: &str) -> Option<Duration> {
    let seconds: f64 = text.parse().ok()?;
    if !(0.0..=MAX_DELAY).contains(&seconds) {
        return None; // negative, too long, infinite or NaN
    }
    Duration::try_from_secs_f64(seconds.abs()).ok()
}

#[aio::main]
async fn main() -> io::Result<()> {
    let mut stdin_reader = aio::streams::stdin()?;
    let mut delays = Vec::new();

    // Set while dropping the rest of a line longer than the reader's limit.
    let mut skipping = false;
    loop {
        let line = match stdin_reader.readline().await {
            Ok(line) => line,
            Err(StreamError::LimitOverrun(err)) => {
                // Not a number either; drop what was searched and the rest.
                if !skipping {
                    println!("Not a number: (a line over 64 KiB)");
                }
                skipping = true;
                stdin_reader.readexactly(err.consumed).await?;
                continue;
            }
            Err(err) => return Err(err.into()),
        };
        if line.is_empty() {
            break; // EOF
        }
        if std::mem::take(&mut skipping) {
            continue; // the end of an over-long line
        }
        let text = String::from_utf8_lossy(&line).trim().to_owned();
        if text.is_empty() {
            continue;
        }
        match parse_delay(&text) {
            Some(seconds) => {
                delays.retain(|task: &aio::Task<()>| !task.is_finished());
                delays.push(aio::spawn(delay(text, seconds)));
            }
            None => println!("Not a number: {text}"),
        }
    }

    // EOF: let the delays still running finish (`asyncio.run` would cancel them).
    for task in delays {
        let _ = task.await;
    }
    Ok(())
}
