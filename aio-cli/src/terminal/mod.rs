//! The front end `aio delay` and `aio sql` share: lines in, messages out.
//!
//! On a terminal it is the seed's cbreak screen ([`screen`]): keys are read
//! as they are typed, the input line stays at the bottom ([`editor`]) and
//! messages scroll from the top. Ctrl-D, Ctrl-C, `SIGTERM`, `SIGHUP` and
//! `SIGQUIT` leave at once, abandoning the tasks still running, with the
//! terminal restored.
//!
//! Anywhere else (a pipe, a file) it is plain line mode, so the apps can be
//! scripted and tested: lines come from [`aio::streams::stdin`], each
//! message is one line on stdout, and at EOF the tasks still running are
//! waited for. Signals keep their default actions there: there is no
//! terminal state to restore.
//!
//! The app sees neither: it gets each non-empty line, trimmed, and may
//! start a task for it; the task reports through [`Messages`].

mod editor;
mod screen;

use std::future::{poll_fn, Future};
use std::io::{self, IsTerminal};
use std::pin::pin;
use std::rc::Rc;
use std::task::Poll;

use aio::signal::{Signal, Signals};
use aio::streams::{StreamError, StreamReader, StreamWriter};
use aio::Task;

use editor::Edit;
use screen::{Cbreak, Screen};

/// How much of stdin is read at a time on the screen: a paste arrives
/// whole and the input line is drawn once for it.
const CHUNK: usize = 4096;

/// What differs between the apps' screens.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    /// Shown before the input line.
    pub(crate) prompt: &'static str,
    /// Tab types a space (pasted SQL is indented); otherwise it is ignored.
    pub(crate) tab_as_space: bool,
}

/// One line of input, as an app gets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Input<'a> {
    /// A line, trimmed, never empty.
    Line(&'a str),
    /// A line longer than stdin's limit (64 KiB, line mode only), skipped.
    TooLong,
}

/// Where an app's tasks report; cheap to clone into each task.
#[derive(Debug, Clone)]
pub(crate) struct Messages(Rc<Sink>);

/// Where messages go.
#[derive(Debug)]
enum Sink {
    /// The top of the screen.
    Screen(Rc<Screen>),
    /// One line each on stdout, written without blocking the loop.
    Lines(Rc<StreamWriter>),
}

impl Messages {
    /// Shows `message`: at the top of the screen, or as a line on stdout.
    pub(crate) fn append(&self, message: String) {
        match &*self.0 {
            Sink::Screen(screen) => screen.append(message),
            Sink::Lines(stdout) => stdout.write(format!("{message}\n").as_bytes()),
        }
    }
}

/// True when the screen is used: stdin and stdout are both terminals. With
/// stdout redirected, escape sequences would only litter the output.
pub(crate) fn is_interactive() -> bool {
    io::stdin().is_terminal() && io::stdout().is_terminal()
}

/// Runs the front end until Ctrl-D, Ctrl-C or EOF, calling `on_line` for
/// each line; the tasks it returns are awaited at EOF in line mode.
/// `notes` open the screen; line mode has no use for them.
///
/// # Errors
///
/// When stdin or stdout cannot be used, or the terminal's settings cannot
/// be changed.
pub(crate) async fn run<F>(settings: Settings, notes: Vec<String>, on_line: F) -> io::Result<()>
where
    F: FnMut(Input<'_>, &Messages) -> Option<Task<()>>,
{
    let mut lines = Lines {
        on_line,
        pending: Vec::new(),
        sweep_at: SWEEP_AT_LEAST,
    };
    if is_interactive() {
        run_screen(settings, notes, &mut lines).await
    } else {
        run_plain(&mut lines).await
    }
}

/// The app's line handler and the tasks it started.
struct Lines<F> {
    /// The app.
    on_line: F,
    /// Tasks that may still be running, for line mode's wait at EOF.
    pending: Vec<Task<()>>,
    /// `pending`'s length at which finished tasks are next swept out.
    sweep_at: usize,
}

/// The smallest `Lines::sweep_at`.
const SWEEP_AT_LEAST: usize = 64;

impl<F: FnMut(Input<'_>, &Messages) -> Option<Task<()>>> Lines<F> {
    /// Hands `input` to the app (unless it is an empty line) and keeps its
    /// task.
    fn handle(&mut self, input: Input<'_>, messages: &Messages) {
        if input == Input::Line("") {
            return;
        }
        if let Some(task) = (self.on_line)(input, messages) {
            // Finished tasks are swept out so a long session stays small;
            // only once the list has doubled, so that a piped file whose
            // queries all wait for the pool costs O(1) per line, not a scan
            // of every query still waiting.
            if self.pending.len() >= self.sweep_at {
                self.pending.retain(|task| !task.is_finished());
                self.sweep_at = (2 * self.pending.len()).max(SWEEP_AT_LEAST);
            }
            self.pending.push(task);
        }
    }
}

/// The cbreak screen, until Ctrl-D, EOF or a stop signal.
async fn run_screen<F>(
    settings: Settings,
    notes: Vec<String>,
    lines: &mut Lines<F>,
) -> io::Result<()>
where
    F: FnMut(Input<'_>, &Messages) -> Option<Task<()>>,
{
    // Hooked before cbreak, so no signal can kill us with the terminal
    // left in cbreak mode.
    let mut signals = Signals::new(&[Signal::Int, Signal::Term, Signal::Hup, Signal::Quit])?;
    let mut stdin = aio::streams::stdin()?;
    let _cbreak = Cbreak::enter()?;
    let screen = Rc::new(Screen::new(settings.prompt, settings.tab_as_space));
    let _winch = {
        let screen = screen.clone();
        aio::signal::add_handler(Signal::Winch, move || screen.resize())?
    };
    let messages = Messages(Rc::new(Sink::Screen(screen.clone())));
    for note in notes {
        messages.append(note);
    }
    let mut keys = pin!(read_keys(&mut stdin, &screen, &messages, lines));
    poll_fn(|cx| {
        if let Poll::Ready(result) = keys.as_mut().poll(cx) {
            return Poll::Ready(result);
        }
        // Any stop signal (or the loop closing) leaves, as Ctrl-D does.
        signals.poll_recv(cx).map(|_| Ok(()))
    })
    .await
    // `_cbreak` drops here, or while a panic unwinds: the terminal is
    // restored on every way out.
}

/// The seed's `read_line` loop: keys to the editor, lines to the app,
/// until Ctrl-D or EOF (the terminal hung up).
async fn read_keys<F>(
    stdin: &mut StreamReader,
    screen: &Screen,
    messages: &Messages,
    lines: &mut Lines<F>,
) -> io::Result<()>
where
    F: FnMut(Input<'_>, &Messages) -> Option<Task<()>>,
{
    loop {
        let keys = stdin.read(CHUNK).await?;
        if keys.is_empty() {
            return Ok(());
        }
        let mut changed = false;
        for byte in keys {
            let edit = screen.editor().borrow_mut().feed(byte);
            match edit {
                Edit::None => {}
                Edit::Changed => changed = true,
                Edit::Submit(line) => {
                    changed = true;
                    lines.handle(Input::Line(line.trim()), messages);
                }
                Edit::Exit => return Ok(()),
            }
        }
        if changed {
            screen.draw_input();
        }
    }
}

/// Plain line mode: every line to the app, then at EOF wait for its tasks.
async fn run_plain<F>(lines: &mut Lines<F>) -> io::Result<()>
where
    F: FnMut(Input<'_>, &Messages) -> Option<Task<()>>,
{
    let mut stdin = aio::streams::stdin()?;
    let stdout = Rc::new(aio::streams::stdout()?);
    let messages = Messages(Rc::new(Sink::Lines(stdout.clone())));
    let mut skipping = false;
    loop {
        match read_line(&mut stdin, &mut skipping).await? {
            Read::Text(text) => lines.handle(Input::Line(text.trim()), &messages),
            Read::TooLong => lines.handle(Input::TooLong, &messages),
            Read::Eof => break,
        }
        // Reading waits while stdout lags, so output never piles up.
        stdout.drain().await?;
    }
    for task in lines.pending.drain(..) {
        // A task's panic was already reported by the loop's error handler.
        let _ = task.await;
    }
    stdout.drain().await?;
    stdout.close();
    stdout.wait_closed().await;
    Ok(())
}

/// One read of line mode.
enum Read {
    /// A line (invalid UTF-8 replaced).
    Text(String),
    /// A line over stdin's limit; its bytes are skipped.
    TooLong,
    /// The end of stdin.
    Eof,
}

/// The next line of stdin; `skipping` carries over the rest of an
/// over-long line, which is dropped rather than read as a line of its own.
async fn read_line(stdin: &mut StreamReader, skipping: &mut bool) -> io::Result<Read> {
    loop {
        match stdin.readline().await {
            Ok(line) if line.is_empty() => return Ok(Read::Eof),
            Ok(_) if std::mem::take(skipping) => continue,
            Ok(line) => return Ok(Read::Text(String::from_utf8_lossy(&line).into_owned())),
            Err(StreamError::LimitOverrun(e)) => {
                // Nothing was consumed: drop what was searched; the rest of
                // the line comes with the next read.
                stdin.readexactly(e.consumed).await?;
                if !std::mem::replace(skipping, true) {
                    return Ok(Read::TooLong);
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
}
