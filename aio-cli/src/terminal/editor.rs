//! The input line of the screen: the seed's `read_line` buffer, plus a
//! cursor and the keys people expect to work.
//!
//! Bytes go in one at a time (a key may be several bytes: UTF-8, or an
//! escape sequence such as `ESC [ 3 ~` for Delete), and each byte says what
//! it did ([`Edit`]). Drawing is the screen's job; the editor only keeps
//! the text and the cursor, so it is tested without a terminal.

/// Characters typed past this on one line are ignored, so a stuck key or a
/// huge paste cannot grow the line without bound.
pub(crate) const MAX_LINE: usize = 4096;

/// What one byte of input did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Edit {
    /// Nothing visible (inside an escape or UTF-8 sequence, an ignored key).
    None,
    /// The line or the cursor moved: redraw the input line.
    Changed,
    /// Enter: the line typed, now taken out of the editor.
    Submit(String),
    /// Ctrl-D: leave.
    Exit,
}

/// Where the editor is in an escape sequence (arrow keys and the like
/// arrive as `ESC [ params final` or `ESC O final`).
#[derive(Debug, Default)]
enum Escape {
    /// Not in a sequence: bytes are typed.
    #[default]
    None,
    /// After `ESC`.
    Esc,
    /// After `ESC [`, with the parameter bytes so far.
    Csi(Vec<u8>),
    /// After `ESC O`.
    Ss3,
}

/// The line being typed, and where the cursor is in it.
#[derive(Debug, Default)]
pub(crate) struct LineEditor {
    /// The characters of the line (chars, not bytes, so the cursor never
    /// lands inside a character).
    chars: Vec<char>,
    /// Where the next character goes, `0..=chars.len()`.
    cursor: usize,
    /// The escape sequence being read, so its bytes are not typed.
    escape: Escape,
    /// The bytes so far of a multi-byte UTF-8 character.
    utf8: Vec<u8>,
    /// Tab types a space (pasted SQL is often indented); otherwise it is
    /// ignored.
    tab_as_space: bool,
}

impl LineEditor {
    /// An empty line; `tab_as_space` says whether Tab types a space.
    pub(crate) fn new(tab_as_space: bool) -> LineEditor {
        LineEditor {
            tab_as_space,
            ..LineEditor::default()
        }
    }

    /// The line so far.
    pub(crate) fn chars(&self) -> &[char] {
        &self.chars
    }

    /// The cursor, as an index into [`chars`](Self::chars).
    pub(crate) fn cursor(&self) -> usize {
        self.cursor
    }

    /// Takes one byte of input.
    pub(crate) fn feed(&mut self, byte: u8) -> Edit {
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
                    // Parameter and intermediate bytes, until the final one.
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
                    _ => self.cursor_key(byte),
                };
            }
            Escape::Ss3 => return self.cursor_key(byte),
        }
        match byte {
            b'\r' | b'\n' => {
                self.cursor = 0;
                self.utf8.clear();
                Edit::Submit(std::mem::take(&mut self.chars).into_iter().collect())
            }
            // Backspace sends DEL (0x7f) on most terminals, BS on some.
            0x7f | 0x08 => self.backspace(),
            0x04 => Edit::Exit,
            0x15 => {
                // Ctrl-U, as in the shell.
                self.chars.clear();
                self.cursor = 0;
                Edit::Changed
            }
            0x1b => {
                self.escape = Escape::Esc;
                Edit::None
            }
            b'\t' if self.tab_as_space => self.utf8_byte(b' '),
            0x00..=0x1f => Edit::None,
            _ => self.utf8_byte(byte),
        }
    }

    /// The final byte of `ESC [ X` or `ESC O X`: arrows, Home and End.
    fn cursor_key(&mut self, byte: u8) -> Edit {
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

    /// Deletes the character before the cursor.
    fn backspace(&mut self) -> Edit {
        if self.cursor == 0 {
            return Edit::None;
        }
        self.cursor -= 1;
        self.chars.remove(self.cursor);
        Edit::Changed
    }

    /// Deletes the character at the cursor (the Delete key).
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
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input`; returns the lines submitted and whether Ctrl-D came.
    fn type_keys(editor: &mut LineEditor, input: &[u8]) -> (Vec<String>, bool) {
        let mut lines = Vec::new();
        for &byte in input {
            match editor.feed(byte) {
                Edit::Submit(line) => lines.push(line),
                Edit::Exit => return (lines, true),
                Edit::None | Edit::Changed => {}
            }
        }
        (lines, false)
    }

    #[test]
    fn backspace_and_delete_edit_the_line() {
        let mut editor = LineEditor::new(false);
        // "12x" Backspace "3", Left Left, Delete → "13"; Home, Delete → "3".
        let (lines, _) = type_keys(&mut editor, b"12x\x7f3\x1b[D\x1b[D\x1b[3~\n");
        assert_eq!(lines, ["13"]);
        let (lines, _) = type_keys(&mut editor, b"0.5\x1b[H\x1b[3~\x08\r");
        assert_eq!(lines, [".5"]);
        assert!(editor.chars().is_empty());
        assert_eq!(editor.cursor(), 0);
    }

    #[test]
    fn utf8_is_whole_characters_and_escapes_are_swallowed() {
        let mut editor = LineEditor::new(false);
        let (lines, _) = type_keys(&mut editor, "é€\x1b[1;5Ax\x7f\x1bOD!\n".as_bytes());
        assert_eq!(lines, ["é!€"]);
        let (lines, _) = type_keys(&mut editor, b"a\xffb\n");
        assert_eq!(lines, ["a\u{fffd}b"]);
    }

    #[test]
    fn ctrl_d_leaves_ctrl_u_clears_and_tab_depends() {
        let mut editor = LineEditor::new(false);
        let (lines, exit) = type_keys(&mut editor, b"junk\x15a\tb\n1\x04ignored");
        assert_eq!((lines, exit), (vec!["ab".to_owned()], true));
        let mut editor = LineEditor::new(true);
        let (lines, _) = type_keys(&mut editor, b"a\tb\n");
        assert_eq!(lines, ["a b"]);
    }

    #[test]
    fn the_line_has_a_length_limit() {
        let mut editor = LineEditor::new(false);
        let input = vec![b'9'; MAX_LINE + 10];
        type_keys(&mut editor, &input);
        assert_eq!(editor.chars().len(), MAX_LINE);
    }
}
