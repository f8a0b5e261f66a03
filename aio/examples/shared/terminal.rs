//! The cbreak terminal screen of the seed's listing 27 (cursor helpers,
//! `MessageStore`, a line editor, `read_line`), shared by the
//! `delay_terminal` and `sql_terminal` examples. Each includes it with
//! `#[path = "shared/terminal.rs"] mod terminal;` and defines `PROMPT`
//! (shown before the input line) and `TAB_AS_SPACE` (whether Tab types a
//! space or is ignored). Not an example of its own: cargo only picks up
//! `examples/*.rs` and `examples/*/main.rs`.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io::{self, Write};
use std::rc::Rc;

use aio::streams::StreamReader;
use rustix::termios::{self, LocalModes, OptionalActions, SpecialCodeIndex, Termios};

/// Characters typed past this on one line are ignored.
pub const MAX_LINE: usize = 4096;

// ---------------------------------------------------------------------
// Cursor helpers (the seed's listing 8.7). Each appends its escape to a
// frame; `flush_frame` writes the frame with one `write`, so the terminal
// never shows half an update.
// ---------------------------------------------------------------------

pub fn save_cursor_position(frame: &mut String) {
    frame.push_str("\x1b7");
}

pub fn restore_cursor_position(frame: &mut String) {
    frame.push_str("\x1b8");
}

pub fn move_to_top_of_screen(frame: &mut String) {
    frame.push_str("\x1b[H");
}

pub fn delete_line(frame: &mut String) {
    frame.push_str("\x1b[2K");
}

pub fn clear_line(frame: &mut String) {
    frame.push_str("\x1b[2K\r");
}

pub fn clear_screen(frame: &mut String) {
    frame.push_str("\x1b[2J\x1b[H");
}

/// Moves to the first column of the last row (the seed counted rows down
/// from the top with `\x1b[{n}E`; an absolute move works from anywhere).
pub fn move_to_bottom_of_screen(frame: &mut String, rows: u16) {
    frame.push_str(&format!("\x1b[{rows};1H"));
}

pub fn move_to_column(frame: &mut String, column: usize) {
    frame.push_str(&format!("\x1b[{column}G"));
}

/// Writes `frame` to the terminal. Errors (the terminal is gone) are
/// ignored: there is nobody left to tell.
pub fn flush_frame(frame: &str) {
    let mut out = io::stdout().lock();
    let _ = out.write_all(frame.as_bytes());
    let _ = out.flush();
}

/// The terminal's rows and columns (`shutil.get_terminal_size`), 24×80
/// when it does not say.
pub fn terminal_size() -> (u16, u16) {
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
pub struct Cbreak {
    /// The settings before cbreak, restored on drop.
    pub original: Termios,
}

impl Cbreak {
    /// Clears `ICANON` (keys arrive one by one, not per line) and `ECHO`
    /// (the program echoes, where it wants), keeps `ISIG` (Ctrl-C is still
    /// `SIGINT`), and disables Ctrl-Z (`VSUSP`).
    pub fn enter() -> io::Result<Cbreak> {
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
pub struct MessageStore {
    /// The messages, oldest first.
    pub deque: RefCell<VecDeque<String>>,
    /// The `maxlen` of the seed's deque; changes with the window size.
    pub max_size: Cell<usize>,
    /// Shows the messages (the seed's `redraw_output`).
    pub callback: Callback,
}

impl MessageStore {
    pub fn new(callback: impl Fn(&VecDeque<String>) + 'static, max_size: usize) -> MessageStore {
        MessageStore {
            deque: RefCell::new(VecDeque::with_capacity(max_size)),
            max_size: Cell::new(max_size),
            callback: Box::new(callback),
        }
    }

    /// Adds a message, dropping the oldest when full, and shows them.
    pub fn append(&self, item: String) {
        let mut deque = self.deque.borrow_mut();
        deque.push_back(item);
        Self::trim(&mut deque, self.max_size.get());
        (self.callback)(&deque);
    }

    /// Changes how many messages are kept (the window was resized), and
    /// shows them.
    pub fn resize(&self, max_size: usize) {
        self.max_size.set(max_size);
        let mut deque = self.deque.borrow_mut();
        Self::trim(&mut deque, max_size);
        (self.callback)(&deque);
    }

    pub fn trim(deque: &mut VecDeque<String>, max_size: usize) {
        while deque.len() > max_size {
            deque.pop_front();
        }
    }
}

/// The seed's `redraw_output`: from the top of the screen, rewrite every
/// message, each on a cleared row and cut to the width, then put the
/// cursor back where it was (in the input line).
pub fn redraw_output(items: &VecDeque<String>, columns: u16) {
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
pub enum Escape {
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
pub enum Edit {
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
pub struct LineEditor {
    /// The characters of the line.
    pub chars: Vec<char>,
    /// Where the next character goes, `0..=chars.len()`.
    pub cursor: usize,
    /// The escape sequence being read.
    pub escape: Escape,
    /// The bytes so far of a UTF-8 character.
    utf8: Vec<u8>,
}

impl LineEditor {
    /// Takes one byte of input.
    pub fn feed(&mut self, byte: u8) -> Edit {
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
            b'\t' if super::TAB_AS_SPACE => self.utf8_byte(b' '),
            0x00..=0x1f => Edit::None,
            _ => self.utf8_byte(byte),
        }
    }

    /// The final byte of `ESC [ X` or `ESC O X`.
    pub fn key(&mut self, byte: u8) -> Edit {
        match byte {
            b'C' => self.move_to(self.cursor + 1),
            b'D' => self.move_to(self.cursor.saturating_sub(1)),
            b'H' => self.move_to(0),
            b'F' => self.move_to(self.chars.len()),
            _ => Edit::None,
        }
    }

    pub fn move_to(&mut self, cursor: usize) -> Edit {
        self.cursor = cursor.min(self.chars.len());
        Edit::Changed
    }

    pub fn backspace(&mut self) -> Edit {
        if self.cursor == 0 {
            return Edit::None;
        }
        self.cursor -= 1;
        self.chars.remove(self.cursor);
        Edit::Changed
    }

    pub fn delete(&mut self) -> Edit {
        if self.cursor == self.chars.len() {
            return Edit::None;
        }
        self.chars.remove(self.cursor);
        Edit::Changed
    }

    /// Collects a character's UTF-8 bytes; an invalid sequence becomes `�`.
    pub fn utf8_byte(&mut self, byte: u8) -> Edit {
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
    pub fn render(&self, rows: u16, columns: u16) {
        let width = usize::from(columns)
            .saturating_sub(super::PROMPT.len() + 1)
            .max(1);
        let start = self.cursor.saturating_sub(width);
        let end = self.chars.len().min(start + width);
        let mut frame = String::new();
        move_to_bottom_of_screen(&mut frame, rows);
        clear_line(&mut frame);
        frame.push_str(super::PROMPT);
        frame.extend(&self.chars[start..end]);
        move_to_column(&mut frame, super::PROMPT.len() + self.cursor - start + 1);
        flush_frame(&frame);
    }
}

/// The terminal the screen is drawn on.
#[derive(Clone)]
pub struct Screen {
    /// Rows and columns, updated on `SIGWINCH`.
    pub size: Rc<Cell<(u16, u16)>>,
}

/// Reads keys until Enter, editing `editor` and, on a terminal, redrawing
/// the input line. `None` at Ctrl-D or EOF.
///
/// # Cancel safety
///
/// Cancel-safe: the line so far lives in `editor`, and `read(1)` loses no
/// byte when dropped.
pub async fn read_line(
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
