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
use std::collections::VecDeque;
use std::future::Future;
use std::io::{self, IsTerminal, Write};
use std::pin::pin;
use std::rc::Rc;
use std::time::Duration;

use aio::signal::{Signal, Signals};
use aio::streams::StreamReader;
use futures_util::future::{select, Either};
use rustix::termios::{self, LocalModes, OptionalActions, SpecialCodeIndex, Termios};

/// The longest delay accepted: a day.
const MAX_DELAY: f64 = 86_400.0;

/// Shown before the input line.
const PROMPT: &str = "> ";

/// Characters typed past this on one line are ignored.
const MAX_LINE: usize = 4096;

// ---------------------------------------------------------------------
// Cursor helpers (the seed's listing 8.7). Each appends its escape to a
// frame; `flush_frame` writes the frame with one `write`, so the terminal
// never shows half an update.
// ---------------------------------------------------------------------

fn save_cursor_position(frame: &mut String) {
    frame.push_str("\x1b7");
}

fn restore_cursor_position(frame: &mut String) {
    frame.push_str("\x1b8");
}

fn move_to_top_of_screen(frame: &mut String) {
    frame.push_str("\x1b[H");
}

fn delete_line(frame: &mut String) {
    frame.push_str("\x1b[2K");
}

fn clear_line(frame: &mut String) {
    frame.push_str("\x1b[2K\r");
}

fn clear_screen(frame: &mut String) {
    frame.push_str("\x1b[2J\x1b[H");
}

/// Moves to the first column of the last row (the seed counted rows down
/// from the top with `\x1b[{n}E`; an absolute move works from anywhere).
fn move_to_bottom_of_screen(frame: &mut String, rows: u16) {
    frame.push_str(&format!("\x1b[{rows};1H"));
}

fn move_to_column(frame: &mut String, column: usize) {
    frame.push_str(&format!("\x1b[{column}G"));
}

/// Writes `frame` to the terminal. Errors (the terminal is gone) are
/// ignored: there is nobody left to tell.
fn flush_frame(frame: &str) {
    let mut out = io::stdout().lock();
    let _ = out.write_all(frame.as_bytes());
    let _ = out.flush();
}

/// The terminal's rows and columns (`shutil.get_terminal_size`), 24×80
/// when it does not say.
fn terminal_size() -> (u16, u16) {
    match termios::tcgetwinsize(io::stdout()) {
        Ok(size) if size.ws_row >= 2 && size.ws_col >= 10 => (size.ws_row, size.ws_col),
        _ => (24, 80),
    }
}

// ---------------------------------------------------------------------
// Cbreak mode (`tty.setcbreak`), undone on drop.
// ---------------------------------------------------------------------

/// The terminal in cbreak mode. Dropping it — on any return, or while a
/// panic unwinds — puts back the settings it found, so the shell gets a
/// working terminal whatever happened.
struct Cbreak {
    /// The settings before cbreak, restored on drop.
    original: Termios,
}

impl Cbreak {
    /// Clears `ICANON` (keys arrive one by one, not per line) and `ECHO`
    /// (the program echoes, where it wants), keeps `ISIG` (Ctrl-C is still
    /// `SIGINT`), and disables Ctrl-Z (`VSUSP`).
    fn enter() -> io::Result<Cbreak> {
        let stdin = io::stdin();
        let original = termios::tcgetattr(&stdin)?;
        let mut cbreak = original.clone();
        cbreak
            .local_modes
            .remove(LocalModes::ICANON | LocalModes::ECHO);
        cbreak.local_modes.insert(LocalModes::ISIG);
        cbreak.special_codes[SpecialCodeIndex::VMIN] = 1;
        cbreak.special_codes[SpecialCodeIndex::VTIME] = 0;
        cbreak.special_codes[SpecialCodeIndex::VSUSP] = 0; // _POSIX_VDISABLE
        termios::tcsetattr(&stdin, OptionalActions::Flush, &cbreak)?;
        Ok(Cbreak { original })
    }
}

impl Drop for Cbreak {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(io::stdin(), OptionalActions::Now, &self.original);
        // Leave the messages on screen; give the shell a clean last row.
        let mut frame = String::new();
        move_to_bottom_of_screen(&mut frame, terminal_size().0);
        clear_line(&mut frame);
        flush_frame(&frame);
    }
}

// ---------------------------------------------------------------------
// MessageStore (the seed's listing 8.9).
// ---------------------------------------------------------------------

/// Shows the messages, oldest first.
type Callback = Box<dyn Fn(&VecDeque<String>)>;

/// The newest messages, at most `max_size`; every change calls the
/// callback with all of them, which redraws the screen.
struct MessageStore {
    /// The messages, oldest first.
    deque: RefCell<VecDeque<String>>,
    /// The `maxlen` of the seed's deque; changes with the window size.
    max_size: Cell<usize>,
    /// Shows the messages (the seed's `redraw_output`).
    callback: Callback,
}

impl MessageStore {
    fn new(callback: impl Fn(&VecDeque<String>) + 'static, max_size: usize) -> MessageStore {
        MessageStore {
            deque: RefCell::new(VecDeque::with_capacity(max_size)),
            max_size: Cell::new(max_size),
            callback: Box::new(callback),
        }
    }

    /// Adds a message, dropping the oldest when full, and shows them.
    fn append(&self, item: String) {
        let mut deque = self.deque.borrow_mut();
        deque.push_back(item);
        Self::trim(&mut deque, self.max_size.get());
        (self.callback)(&deque);
    }

    /// Changes how many messages are kept (the window was resized), and
    /// shows them.
    fn resize(&self, max_size: usize) {
        self.max_size.set(max_size);
        let mut deque = self.deque.borrow_mut();
        Self::trim(&mut deque, max_size);
        (self.callback)(&deque);
    }

    fn trim(deque: &mut VecDeque<String>, max_size: usize) {
        while deque.len() > max_size {
            deque.pop_front();
        }
    }
}

/// The seed's `redraw_output`: from the top of the screen, rewrite every
/// message, each on a cleared row and cut to the width, then put the
/// cursor back where it was (in the input line).
fn redraw_output(items: &VecDeque<String>, columns: u16) {
    let mut frame = String::new();
    save_cursor_position(&mut frame);
    move_to_top_of_screen(&mut frame);
    for item in items {
        delete_line(&mut frame);
        frame.extend(item.chars().take(usize::from(columns)));
        frame.push_str("\r\n");
    }
    restore_cursor_position(&mut frame);
    flush_frame(&frame);
}

// ---------------------------------------------------------------------
// read_line (the seed's listing 8.8), with a small line editor.
// ---------------------------------------------------------------------

/// Where the editor is in an escape sequence (arrow keys and the like
/// arrive as `ESC [ ... final` or `ESC O final`).
#[derive(Debug, Default)]
enum Escape {
    #[default]
    None,
    /// After `ESC`.
    Esc,
    /// After `ESC [`, with the parameter bytes so far.
    Csi(Vec<u8>),
    /// After `ESC O`.
    Ss3,
}

/// What a key did to the line.
#[derive(Debug, PartialEq)]
enum Edit {
    /// Nothing visible (inside an escape sequence, an ignored key).
    None,
    /// The line or the cursor changed.
    Changed,
    /// Enter: the line, now taken out of the editor.
    Submit(String),
    /// Ctrl-D.
    Exit,
}

/// The line being typed: the seed's `input_buffer`, plus a cursor.
#[derive(Debug, Default)]
struct LineEditor {
    /// The characters of the line.
    chars: Vec<char>,
    /// Where the next character goes, `0..=chars.len()`.
    cursor: usize,
    /// The escape sequence being read.
    escape: Escape,
    /// The bytes so far of a UTF-8 character.
    utf8: Vec<u8>,
}

impl LineEditor {
    /// Takes one byte of input.
    fn feed(&mut self, byte: u8) -> Edit {
        match std::mem::take(&mut self.escape) {
            Escape::None => {}
            Escape::Esc => match byte {
                b'[' => {
                    self.escape = Escape::Csi(Vec::new());
                    return Edit::None;
                }
                b'O' => {
                    self.escape = Escape::Ss3;
                    return Edit::None;
                }
                _ => {} // a lone ESC (or Alt+key): drop the ESC, keep the key
            },
            Escape::Csi(mut params) => {
                return match byte {
                    0x20..=0x3f => {
                        params.push(byte);
                        self.escape = Escape::Csi(params);
                        Edit::None
                    }
                    b'~' => match params.as_slice() {
                        b"3" => self.delete(),
                        b"1" | b"7" => self.move_to(0),
                        b"4" | b"8" => self.move_to(self.chars.len()),
                        _ => Edit::None,
                    },
                    _ => self.key(byte),
                };
            }
            Escape::Ss3 => return self.key(byte),
        }
        match byte {
            b'\r' | b'\n' => {
                self.cursor = 0;
                Edit::Submit(std::mem::take(&mut self.chars).into_iter().collect())
            }
            0x7f | 0x08 => self.backspace(),
            0x04 => Edit::Exit,
            0x15 => {
                // Ctrl-U
                self.chars.clear();
                self.cursor = 0;
                Edit::Changed
            }
            0x1b => {
                self.escape = Escape::Esc;
                Edit::None
            }
            0x00..=0x1f => Edit::None,
            _ => self.utf8_byte(byte),
        }
    }

    /// The final byte of `ESC [ X` or `ESC O X`.
    fn key(&mut self, byte: u8) -> Edit {
        match byte {
            b'C' => self.move_to(self.cursor + 1),
            b'D' => self.move_to(self.cursor.saturating_sub(1)),
            b'H' => self.move_to(0),
            b'F' => self.move_to(self.chars.len()),
            _ => Edit::None,
        }
    }

    fn move_to(&mut self, cursor: usize) -> Edit {
        self.cursor = cursor.min(self.chars.len());
        Edit::Changed
    }

    fn backspace(&mut self) -> Edit {
        if self.cursor == 0 {
            return Edit::None;
        }
        self.cursor -= 1;
        self.chars.remove(self.cursor);
        Edit::Changed
    }

    fn delete(&mut self) -> Edit {
        if self.cursor == self.chars.len() {
            return Edit::None;
        }
        self.chars.remove(self.cursor);
        Edit::Changed
    }

    /// Collects a character's UTF-8 bytes; an invalid sequence becomes `�`.
    fn utf8_byte(&mut self, byte: u8) -> Edit {
        self.utf8.push(byte);
        let c = match std::str::from_utf8(&self.utf8) {
            Ok(s) => s.chars().next().unwrap_or(char::REPLACEMENT_CHARACTER),
            Err(e) if e.error_len().is_none() => return Edit::None, // more to come
            Err(_) => char::REPLACEMENT_CHARACTER,
        };
        self.utf8.clear();
        if self.chars.len() >= MAX_LINE {
            return Edit::None;
        }
        self.chars.insert(self.cursor, c);
        self.cursor += 1;
        Edit::Changed
    }

    /// Draws the input line on the last row, scrolled sideways so the
    /// cursor shows, and leaves the cursor there.
    fn render(&self, rows: u16, columns: u16) {
        let width = usize::from(columns).saturating_sub(PROMPT.len() + 1).max(1);
        let start = self.cursor.saturating_sub(width);
        let end = self.chars.len().min(start + width);
        let mut frame = String::new();
        move_to_bottom_of_screen(&mut frame, rows);
        clear_line(&mut frame);
        frame.push_str(PROMPT);
        frame.extend(&self.chars[start..end]);
        move_to_column(&mut frame, PROMPT.len() + self.cursor - start + 1);
        flush_frame(&frame);
    }
}

/// The terminal the screen is drawn on.
#[derive(Clone)]
struct Screen {
    /// Rows and columns, updated on `SIGWINCH`.
    size: Rc<Cell<(u16, u16)>>,
}

/// Reads keys until Enter, editing `editor` and, on a terminal, redrawing
/// the input line. `None` at Ctrl-D or EOF.
///
/// # Cancel safety
///
/// Cancel-safe: the line so far lives in `editor`, and `read(1)` loses no
/// byte when dropped.
async fn read_line(
    stdin_reader: &mut StreamReader,
    editor: &RefCell<LineEditor>,
    screen: Option<&Screen>,
) -> io::Result<Option<String>> {
    // Whether the input line on screen is out of date.
    let mut dirty = false;
    loop {
        let input_char = stdin_reader.read(1).await?;
        let Some(&byte) = input_char.first() else {
            // EOF: a last line without Enter still counts.
            let last = editor.borrow_mut().feed(b'\n');
            return Ok(match last {
                Edit::Submit(line) if !line.is_empty() => Some(line),
                _ => None,
            });
        };
        // Never held across an await: the resize handler borrows it too.
        let mut editor = editor.borrow_mut();
        let edit = editor.feed(byte);
        dirty |= edit != Edit::None;
        if let Some(screen) = screen {
            // Pasted text: draw once, after the last byte already here.
            let submitted = matches!(edit, Edit::Submit(_));
            if dirty && (stdin_reader.buffered() == 0 || submitted) {
                let (rows, columns) = screen.size.get();
                editor.render(rows, columns);
                dirty = false;
            }
        }
        match edit {
            Edit::Submit(line) => return Ok(Some(line)),
            Edit::Exit => return Ok(None),
            Edit::None | Edit::Changed => {}
        }
    }
}

// ---------------------------------------------------------------------
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
