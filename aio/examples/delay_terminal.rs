//! The cbreak delay screen: the input line stays at the bottom of the
//! terminal, messages scroll down from the top, and typing is never
//! broken up by a task's output.
//!
//! Ports seed 000 (`000_64d4e01f706e344e.txt`), the listings of "raw
//! terminal mode and the read coroutine": the cursor helpers
//! (`save_cursor_position`, `move_to_top_of_screen`, `delete_line`,
//! `clear_line`, `move_to_bottom_of_screen`, ...), `read_line` (reading one
//! character at a time with `stdin_reader.read(1)`, echoing it, handling
//! Delete), `MessageStore` (a `deque(maxlen=rows - 1)` that calls a redraw
//! callback on every `append`), and `main` (`tty.setcbreak`, `clear`, a
//! `redraw_output` that saves the cursor, rewrites the messages from the
//! top and restores it, then `create_task(sleep(delay, messages))` for
//! each line).
//!
//! | asyncio / Python                        | aio / Rust                            |
//! |-----------------------------------------|---------------------------------------|
//! | `tty.setcbreak(sys.stdin)`              | [`rustix::termios`]: clear `ICANON` and `ECHO`, keep `ISIG`; a drop guard puts the old settings back |
//! | `shutil.get_terminal_size()`            | [`rustix::termios::tcgetwinsize`]     |
//! | `sys.stdout.write('\0337')` and friends | the same ANSI escapes, gathered into one write per update |
//! | `create_stdin_reader()`                 | [`aio::streams::stdin`]               |
//! | `await stdin_reader.read(1)`            | [`StreamReader::read`]`(1)`           |
//! | `MessageStore(callback, max_size)`      | the same, with a plain `Fn` callback: redrawing only writes, it never has to wait |
//! | `asyncio.create_task(sleep(...))`       | [`aio::spawn`]                        |
//!
//! What the seed leaves out, added here:
//!
//! - **Leaving cleanly.** Ctrl-C (kept as a signal by `ISIG`), Ctrl-D
//!   (just a byte once `ICANON` is off), `SIGTERM`, `SIGHUP`, Ctrl-\ and a
//!   panic all restore the terminal; the seed leaves it in cbreak mode.
//!   Ctrl-Z is switched off while the screen is up: a stopped job would
//!   hand the shell a terminal in cbreak mode.
//! - **Editing.** Backspace deletes before the cursor (the seed's "Delete"
//!   is the `0x7f` Backspace sends), Delete at the cursor, Left/Right and
//!   Home/End move, Ctrl-U clears; UTF-8 input is whole characters. Other
//!   escape sequences are swallowed, not echoed as garbage.
//! - **Bad input.** Anything but a finite number of seconds from 0 to a
//!   day gets `Not a number: TEXT` instead of `int()`'s crash.
//! - **Resizing.** On `SIGWINCH` the screen is redrawn for the new size.
//! - **Scripts.** When stdin or stdout is not a terminal, it runs in
//!   plain line mode: one message per line on stdout, and at EOF it waits
//!   for the delays still running, then exits.
//!
//! Try it:
//!
//! ```text
//! cargo run -p aio --example delay_terminal                  # type 5, 1, 0.5, abc; Ctrl-C or Ctrl-D leaves
//! printf '1\n0.5\nabc\n' | cargo run -p aio --example delay_terminal
//! ```
//!
//! [`StreamReader::read`]: aio::streams::StreamReader::read

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io::{self, IsTerminal, Write};
use std::pin::pin;
use std::rc::Rc;
use std::time::Duration;

use aio::signal::{Signal, Signals};
use futures_util::future::{select, Either};

/// The longest delay accepted: a day.
const MAX_DELAY: f64 = 86_400.0;

/// Shown before the input line.
const PROMPT: &str = "> ";

#[path = "shared/terminal.rs"]
mod terminal;

use terminal::*;

/// Tab is ignored on the input line.
const TAB_AS_SPACE: bool = false;

// The delays, and main.
// ---------------------------------------------------------------------

/// The seed's `sleep(delay, message_store)`.
async fn delay(text: String, seconds: Duration, messages: Rc<MessageStore>) {
    messages.append(format!("Starting delay {text}"));
    aio::sleep(seconds).await;
    messages.append(format!("Finished delay {text}"));
}

/// `TEXT` as a delay: a finite number of seconds from 0 to [`MAX_DELAY`].
fn parse_delay(text: &str) -> Option<Duration> {
    let seconds: f64 = text.parse().ok()?;
    if !(0.0..=MAX_DELAY).contains(&seconds) {
        return None; // negative, too long, infinite or NaN
    }
    Duration::try_from_secs_f64(seconds.abs()).ok()
}

/// Reads lines and starts a delay for each, until Ctrl-D or EOF. Returns
/// the delays still running.
async fn delay_loop(
    messages: &Rc<MessageStore>,
    editor: &RefCell<LineEditor>,
    screen: Option<&Screen>,
) -> io::Result<Vec<aio::Task<()>>> {
    let mut stdin_reader = aio::streams::stdin()?;
    let mut delays = Vec::new();
    while let Some(line) = read_line(&mut stdin_reader, editor, screen).await? {
        let text = line.trim();
        if text.is_empty() {
            continue;
        }
        match parse_delay(text) {
            Some(seconds) => {
                delays.retain(|task: &aio::Task<()>| !task.is_finished());
                delays.push(aio::spawn(delay(
                    text.to_owned(),
                    seconds,
                    messages.clone(),
                )));
            }
            None => messages.append(format!("Not a number: {text}")),
        }
    }
    Ok(delays)
}

/// The delay screen on a terminal.
async fn run_screen() -> io::Result<()> {
    // Hooked before cbreak, so no Ctrl-C can kill us with the terminal
    // left in cbreak mode.
    let mut signals = Signals::new(&[Signal::Int, Signal::Term, Signal::Hup, Signal::Quit])?;
    let _cbreak = Cbreak::enter()?;

    let screen = Screen {
        size: Rc::new(Cell::new(terminal_size())),
    };
    let (rows, _) = screen.size.get();
    let mut frame = String::new();
    clear_screen(&mut frame);
    flush_frame(&frame);

    let size = screen.size.clone();
    let messages = Rc::new(MessageStore::new(
        move |items| redraw_output(items, size.get().1),
        usize::from(rows - 1),
    ));
    let editor = Rc::new(RefCell::new(LineEditor::default()));
    editor.borrow().render(rows, screen.size.get().1);

    // A new window size: clear, then redraw the messages and the input line.
    let _winch = {
        let (screen, messages, editor) = (screen.clone(), messages.clone(), editor.clone());
        aio::signal::add_handler(Signal::Winch, move || {
            let (rows, columns) = terminal_size();
            screen.size.set((rows, columns));
            let mut frame = String::new();
            clear_screen(&mut frame);
            flush_frame(&frame);
            editor.borrow().render(rows, columns);
            messages.resize(usize::from(rows - 1));
        })?
    };

    let input = delay_loop(&messages, &editor, Some(&screen));
    match first(input, signals.recv()).await {
        Either::Left(result) => result.map(drop), // Ctrl-D: the delays still running are dropped
        Either::Right(_) => Ok(()),               // Ctrl-C and friends
    }
    // `_cbreak` drops here: the terminal is restored.
}

/// Plain line mode, for pipes and files: one message per line.
async fn run_lines() -> io::Result<()> {
    let messages = Rc::new(MessageStore::new(
        |items| {
            if let Some(newest) = items.back() {
                // Not `println!`, which panics once a reader like `head` has gone.
                let _ = writeln!(io::stdout(), "{newest}");
            }
        },
        1,
    ));
    let editor = RefCell::new(LineEditor::default());
    let delays = delay_loop(&messages, &editor, None).await?;
    for task in delays {
        let _ = task.await;
    }
    Ok(())
}

/// Whichever of `a` and `b` finishes first.
async fn first<A: Future, B: Future>(a: A, b: B) -> Either<A::Output, B::Output> {
    match select(pin!(a), pin!(b)).await {
        Either::Left((a, _)) => Either::Left(a),
        Either::Right((b, _)) => Either::Right(b),
    }
}

#[aio::main]
async fn main() {
    let result = if io::stdin().is_terminal() && io::stdout().is_terminal() {
        run_screen().await
    } else {
        run_lines().await
    };
    if let Err(err) = result {
        eprintln!("delay_terminal: {err}");
        std::process::exit(1);
    }
}
