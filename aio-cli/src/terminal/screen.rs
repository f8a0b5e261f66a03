//! The seed's cbreak screen: messages scroll down from the top (its
//! `MessageStore` and `redraw_output`), the input line stays on the last
//! row, and a task's message never breaks up what is being typed.
//!
//! Drawing is plain ANSI escapes, each update gathered into one `write` so
//! the terminal never shows half of it. Writes to a terminal are short and
//! quick, so they are made straight from the loop's thread.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::io::{self, Write};

use rustix::termios::{self, LocalModes, OptionalActions, SpecialCodeIndex, Termios};

use super::editor::LineEditor;

/// The terminal in cbreak mode (`tty.setcbreak`). Dropping it — on any
/// return, or while a panic unwinds — puts back the settings it found, so
/// the shell gets a working terminal whatever happened.
#[derive(Debug)]
pub(crate) struct Cbreak {
    /// The settings before cbreak, restored on drop.
    original: Termios,
}

impl Cbreak {
    /// Clears `ICANON` (keys arrive one by one, not per line) and `ECHO`
    /// (the screen echoes, where it wants), keeps `ISIG` (Ctrl-C is still
    /// `SIGINT`), and disables Ctrl-Z: a stopped job would hand the shell
    /// a terminal in cbreak mode.
    ///
    /// # Errors
    ///
    /// When stdin's settings cannot be read or changed.
    pub(crate) fn enter() -> io::Result<Cbreak> {
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
        // Best effort: if the terminal is gone there is nobody to tell.
        let _ = termios::tcsetattr(io::stdin(), OptionalActions::Now, &self.original);
        // Leave the messages on screen; give the shell a clean last row.
        let mut frame = String::new();
        move_to_row(&mut frame, terminal_size().0);
        frame.push_str("\x1b[2K");
        flush(&frame);
    }
}

/// The terminal's rows and columns (`shutil.get_terminal_size`); 24×80
/// when it does not say, or is too small to hold a message and the prompt.
pub(crate) fn terminal_size() -> (u16, u16) {
    match termios::tcgetwinsize(io::stdout()) {
        Ok(size) if size.ws_row >= 2 && size.ws_col >= 10 => (size.ws_row, size.ws_col),
        _ => (24, 80),
    }
}

/// Moves the cursor to the first column of `row` (1-based).
fn move_to_row(frame: &mut String, row: u16) {
    let _ = write!(frame, "\x1b[{row};1H");
}

/// Writes one update to the terminal. Errors are ignored: a terminal that
/// is gone will also end stdin, and the app leaves then.
fn flush(frame: &str) {
    let mut out = io::stdout().lock();
    let _ = out.write_all(frame.as_bytes());
    let _ = out.flush();
}

/// What is on the screen: the messages (the seed's `MessageStore`, a deque
/// of at most `rows - 1`) and the input line.
#[derive(Debug)]
pub(crate) struct Screen {
    /// Shown before the input line.
    prompt: &'static str,
    /// Rows and columns, updated on `SIGWINCH`.
    size: Cell<(u16, u16)>,
    /// The newest messages, oldest first; one per row above the input.
    messages: RefCell<VecDeque<String>>,
    /// The line being typed.
    editor: RefCell<LineEditor>,
}

impl Screen {
    /// Clears the terminal and draws an empty input line.
    pub(crate) fn new(prompt: &'static str, tab_as_space: bool) -> Screen {
        let screen = Screen {
            prompt,
            size: Cell::new(terminal_size()),
            messages: RefCell::new(VecDeque::new()),
            editor: RefCell::new(LineEditor::new(tab_as_space)),
        };
        screen.redraw_all();
        screen
    }

    /// The editor, for the key loop. Never borrowed across an `await`: the
    /// resize handler borrows it too.
    pub(crate) fn editor(&self) -> &RefCell<LineEditor> {
        &self.editor
    }

    /// The seed's `MessageStore.append`: adds a message, dropping the
    /// oldest when the rows are full, and redraws the messages.
    pub(crate) fn append(&self, message: String) {
        self.messages.borrow_mut().push_back(message);
        self.draw_messages();
    }

    /// The seed's `redraw_output`: saves the cursor (it is in the input
    /// line), rewrites every message from the top, puts the cursor back.
    fn draw_messages(&self) {
        let mut messages = self.messages.borrow_mut();
        let (rows, columns) = self.size.get();
        trim(&mut messages, rows);
        let mut frame = String::from("\x1b7\x1b[H");
        for message in messages.iter() {
            frame.push_str("\x1b[2K");
            frame.extend(message.chars().take(usize::from(columns)));
            frame.push_str("\r\n");
        }
        frame.push_str("\x1b8");
        flush(&frame);
    }

    /// Draws the input line on the last row, scrolled sideways so the
    /// cursor shows, and leaves the cursor there.
    pub(crate) fn draw_input(&self) {
        let editor = self.editor.borrow();
        let (rows, columns) = self.size.get();
        let prompt = self.prompt.chars().count();
        // One column is kept free for the cursor at the end of the line.
        let width = usize::from(columns).saturating_sub(prompt + 1).max(1);
        let start = editor.cursor().saturating_sub(width);
        let end = editor.chars().len().min(start + width);
        let mut frame = String::new();
        move_to_row(&mut frame, rows);
        frame.push_str("\x1b[2K");
        frame.push_str(self.prompt);
        frame.extend(&editor.chars()[start..end]);
        let column = prompt + editor.cursor() - start + 1;
        let _ = write!(frame, "\x1b[{column}G");
        flush(&frame);
    }

    /// The window changed size: clear it and draw everything again.
    pub(crate) fn resize(&self) {
        self.size.set(terminal_size());
        self.redraw_all();
    }

    /// Clears the terminal, then draws the input line and the messages.
    fn redraw_all(&self) {
        flush("\x1b[2J");
        self.draw_input();
        self.draw_messages();
    }
}

/// Keeps the newest `rows - 1` messages: one row is the input line.
fn trim(messages: &mut VecDeque<String>, rows: u16) {
    let keep = usize::from(rows.saturating_sub(1)).max(1);
    while messages.len() > keep {
        messages.pop_front();
    }
}
