//! [`ResponseParser`]: an HTTP/1.1 response parsed from bytes pushed as
//! they arrive (the protocol API's `data_received`), holding at most one
//! partial framing line between calls and never the body.

use std::ops::ControlFlow;

use super::{is_blank_line, parse_chunk_size, parse_head, BodyKind, Head, HttpError, HEAD_LIMIT};

/// Splits off at most `n` bytes from the front of `data`.
fn split_up_to(data: &[u8], n: u64) -> (&[u8], &[u8]) {
    let n = usize::try_from(n).map_or(data.len(), |n| n.min(data.len()));
    data.split_at(n)
}

/// What [`ResponseParser`] reports.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Event<'a> {
    /// A complete head: an interim one ([`Head::is_interim`]) or the final
    /// one, whose body follows.
    Head(Head),
    /// The next piece of the body (de-chunked), borrowed from the input.
    Body(&'a [u8]),
    /// The response is complete; nothing follows.
    End,
}

/// Where [`ResponseParser`] is in a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading header lines.
    Head,
    /// In a `Content-Length` body: (bytes left, total).
    Body(u64, u64),
    /// Reading a chunk-size line.
    ChunkSize,
    /// In a chunk: bytes left.
    ChunkData(u64),
    /// Reading the blank line after a chunk's data.
    ChunkEnd,
    /// Reading trailer lines after the last chunk.
    Trailers,
    /// In a body that ends at close.
    UntilClose,
    /// Complete, or stopped by the caller: further input is ignored.
    Done,
}

/// An incremental HTTP/1.1 response parser for bytes pushed as they
/// arrive (the protocol API's `data_received`).
#[derive(Debug)]
pub(crate) struct ResponseParser {
    /// Where in the response the next byte belongs.
    state: State,
    /// A line not complete yet (header, chunk-size, chunk end or trailer).
    line: Vec<u8>,
    /// The header section so far, kept whole for `-i`.
    head: Vec<u8>,
    /// Bytes taken by the current section (all heads, or the trailers),
    /// checked against [`HEAD_LIMIT`].
    section: usize,
}

impl Default for ResponseParser {
    fn default() -> Self {
        ResponseParser {
            state: State::Head,
            line: Vec::new(),
            head: Vec::new(),
            section: 0,
        }
    }
}

impl ResponseParser {
    /// A parser at the start of a response.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Parses `data`, reporting each event to `on`. `on` returning
    /// `Break` stops the parser: the rest of the input is ignored, now and
    /// later.
    ///
    /// # Errors
    ///
    /// A malformed response or an over-long section; the parser should not
    /// be fed again.
    pub(crate) fn feed(
        &mut self,
        mut data: &[u8],
        on: &mut dyn FnMut(Event<'_>) -> ControlFlow<()>,
    ) -> Result<(), HttpError> {
        while !data.is_empty() && self.state != State::Done {
            let flow = match self.state {
                State::Done => break,
                State::Body(left, total) => {
                    let (piece, rest) = split_up_to(data, left);
                    data = rest;
                    let left = left - piece.len() as u64;
                    self.state = State::Body(left, total);
                    let flow = on(Event::Body(piece));
                    if flow.is_continue() && left == 0 {
                        self.state = State::Done;
                        on(Event::End)
                    } else {
                        flow
                    }
                }
                State::ChunkData(left) => {
                    let (piece, rest) = split_up_to(data, left);
                    data = rest;
                    let left = left - piece.len() as u64;
                    self.state = if left == 0 {
                        State::ChunkEnd
                    } else {
                        State::ChunkData(left)
                    };
                    on(Event::Body(piece))
                }
                State::UntilClose => {
                    let piece = std::mem::take(&mut data);
                    on(Event::Body(piece))
                }
                State::Head | State::ChunkSize | State::ChunkEnd | State::Trailers => {
                    match self.take_line(&mut data)? {
                        Some(line) => self.on_line(line, on)?,
                        None => ControlFlow::Continue(()),
                    }
                }
            };
            if flow.is_break() {
                self.state = State::Done;
            }
        }
        Ok(())
    }

    /// The server closed the connection: completes a body that ends at
    /// close.
    ///
    /// # Errors
    ///
    /// When the response was not complete.
    pub(crate) fn finish(
        &mut self,
        on: &mut dyn FnMut(Event<'_>) -> ControlFlow<()>,
    ) -> Result<(), HttpError> {
        let state = std::mem::replace(&mut self.state, State::Done);
        match state {
            State::Done => Ok(()),
            State::UntilClose => {
                let _ = on(Event::End);
                Ok(())
            }
            State::Head if self.head.is_empty() && self.line.is_empty() => {
                Err(HttpError::no_response())
            }
            State::Head => Err(HttpError::closed_in_head()),
            State::Body(left, total) => Err(HttpError::closed_in_body(total - left, total)),
            State::ChunkSize | State::ChunkData(_) | State::ChunkEnd | State::Trailers => {
                Err(HttpError::closed_in_chunked())
            }
        }
    }

    /// True once the response is complete (or the caller stopped it).
    #[cfg(test)]
    pub(crate) fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Moves bytes up to and including the next `\n` into `self.line`;
    /// returns the line when it is complete.
    fn take_line(&mut self, data: &mut &[u8]) -> Result<Option<Vec<u8>>, HttpError> {
        let (taken, complete) = match data.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (data.len(), false),
        };
        self.line.extend_from_slice(&data[..taken]);
        *data = &data[taken..];
        let in_section = matches!(self.state, State::Head | State::Trailers);
        if in_section && self.section + self.line.len() > HEAD_LIMIT {
            return Err(HttpError::too_large(self.section_name()));
        }
        if self.line.len() > HEAD_LIMIT {
            return Err(HttpError::line_too_long(if self.state == State::ChunkEnd {
                "chunk end"
            } else {
                "chunk size line"
            }));
        }
        if !complete {
            return Ok(None);
        }
        if in_section {
            self.section += self.line.len();
        }
        Ok(Some(std::mem::take(&mut self.line)))
    }

    fn section_name(&self) -> &'static str {
        if self.state == State::Trailers {
            "response trailers"
        } else {
            "response headers"
        }
    }

    /// Acts on one complete framing line.
    fn on_line(
        &mut self,
        line: Vec<u8>,
        on: &mut dyn FnMut(Event<'_>) -> ControlFlow<()>,
    ) -> Result<ControlFlow<()>, HttpError> {
        match self.state {
            State::Head => {
                let blank = is_blank_line(&line);
                self.head.extend_from_slice(&line);
                if !blank {
                    return Ok(ControlFlow::Continue(()));
                }
                let head = parse_head(std::mem::take(&mut self.head))?;
                if head.is_interim() {
                    return Ok(on(Event::Head(head)));
                }
                let kind = head.body_kind()?;
                let flow = on(Event::Head(head));
                if flow.is_break() {
                    return Ok(flow);
                }
                self.state = match kind {
                    BodyKind::Empty | BodyKind::Length(0) => State::Done,
                    BodyKind::Length(n) => State::Body(n, n),
                    BodyKind::Chunked => State::ChunkSize,
                    BodyKind::UntilClose => State::UntilClose,
                };
                Ok(if self.state == State::Done {
                    on(Event::End)
                } else {
                    flow
                })
            }
            State::ChunkSize => {
                let size = parse_chunk_size(&line)?;
                self.state = if size == 0 {
                    self.section = 0;
                    State::Trailers
                } else {
                    State::ChunkData(size)
                };
                Ok(ControlFlow::Continue(()))
            }
            State::ChunkEnd => {
                if !is_blank_line(&line) {
                    return Err(HttpError::malformed("chunk end", &line));
                }
                self.state = State::ChunkSize;
                Ok(ControlFlow::Continue(()))
            }
            State::Trailers => {
                if !is_blank_line(&line) {
                    return Ok(ControlFlow::Continue(()));
                }
                self.state = State::Done;
                Ok(on(Event::End))
            }
            _ => unreachable!("on_line is only called in a line state"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a parser reports for `input` fed in pieces of `step` bytes, as
    /// (heads' raw bytes, body, ended, finish error).
    fn parse_in_steps(input: &[u8], step: usize) -> (Vec<Vec<u8>>, Vec<u8>, bool, Option<String>) {
        let mut parser = ResponseParser::new();
        let mut heads = Vec::new();
        let mut body = Vec::new();
        let mut ended = false;
        let mut on = |e: Event<'_>| {
            match e {
                Event::Head(h) => heads.push(h.raw().to_vec()),
                Event::Body(b) => body.extend_from_slice(b),
                Event::End => ended = true,
            }
            ControlFlow::Continue(())
        };
        for piece in input.chunks(step) {
            if let Err(e) = parser.feed(piece, &mut on) {
                return (heads, body, ended, Some(e.to_string()));
            }
        }
        let error = parser.finish(&mut on).err().map(|e| e.to_string());
        (heads, body, ended, error)
    }

    fn every_split(input: &[u8]) -> (Vec<Vec<u8>>, Vec<u8>, bool, Option<String>) {
        let whole = parse_in_steps(input, input.len().max(1));
        for step in 1..input.len().min(40) {
            assert_eq!(parse_in_steps(input, step), whole, "step {step}");
        }
        whole
    }

    #[test]
    fn content_length_bodies_end_exactly() {
        let input = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloIGNORED";
        let (heads, body, ended, error) = every_split(input);
        assert_eq!(
            heads,
            vec![b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n".to_vec()]
        );
        assert_eq!((body.as_slice(), ended, error), (&b"hello"[..], true, None));
    }

    #[test]
    fn chunked_bodies_with_extensions_and_trailers() {
        let input = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
                      5;ext=1\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: yes\r\n\r\n";
        let (heads, body, ended, error) = every_split(input);
        assert_eq!(heads.len(), 1);
        assert_eq!(
            (body.as_slice(), ended, error),
            (&b"hello world"[..], true, None)
        );
    }

    #[test]
    fn interim_heads_come_before_the_final_one() {
        let input = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        let (heads, body, ended, error) = every_split(input);
        assert_eq!(heads.len(), 2);
        assert_eq!((body.as_slice(), ended, error), (&b"ok"[..], true, None));
    }

    #[test]
    fn bodies_until_close_end_at_finish() {
        let input = b"HTTP/1.0 200 OK\r\n\r\nall of \x00\xffthis";
        let (_, body, ended, error) = every_split(input);
        assert_eq!(
            (body.as_slice(), ended, error),
            (&b"all of \x00\xffthis"[..], true, None)
        );
    }

    #[test]
    fn empty_bodies_end_with_the_head() {
        let (_, body, ended, error) = every_split(b"HTTP/1.1 204 No Content\r\n\r\n");
        assert_eq!((body.len(), ended, error), (0, true, None));
        let (_, body, ended, error) = every_split(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        assert_eq!((body.len(), ended, error), (0, true, None));
    }

    #[test]
    fn early_close_is_an_error_naming_where() {
        let cases: [(&[u8], &str); 5] = [
            (b"", "without a response"),
            (
                b"HTTP/1.1 200 OK\r\nContent-",
                "inside the response headers",
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
                "after 3 of 10 body bytes",
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
                "inside the chunked body",
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n",
                "inside the chunked body",
            ),
        ];
        for (input, expected) in cases {
            let (_, _, ended, error) = every_split(input);
            assert!(!ended);
            let error = error.unwrap_or_default();
            assert!(error.contains(expected), "{error:?} lacks {expected:?}");
        }
    }

    #[test]
    fn malformed_framing_is_an_error() {
        for input in [
            &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"[..],
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n",
            b"garbage\r\n\r\n",
        ] {
            let (_, _, ended, error) = every_split(input);
            assert!(!ended && error.unwrap_or_default().starts_with("malformed"));
        }
    }

    #[test]
    fn header_sections_are_bounded() {
        let mut input = b"HTTP/1.1 200 OK\r\n".to_vec();
        while input.len() <= HEAD_LIMIT {
            input.extend_from_slice(
                b"X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n",
            );
        }
        let (_, _, _, error) = parse_in_steps(&input, 1000);
        assert!(error.unwrap_or_default().contains("larger than 64 KiB"));
        // One endless line, too.
        let mut input = b"HTTP/1.1 200 OK\r\nX: ".to_vec();
        input.resize(HEAD_LIMIT + 10, b'a');
        let (_, _, _, error) = parse_in_steps(&input, 4096);
        assert!(error.unwrap_or_default().contains("larger than 64 KiB"));
    }

    #[test]
    fn a_break_stops_the_parser() {
        let mut parser = ResponseParser::new();
        let mut bodies = 0;
        let input = b"HTTP/1.1 302 Found\r\nLocation: /\r\nContent-Length: 3\r\n\r\nabc";
        parser
            .feed(input, &mut |e| match e {
                Event::Head(_) => ControlFlow::Break(()),
                _ => {
                    bodies += 1;
                    ControlFlow::Continue(())
                }
            })
            .unwrap();
        assert!(parser.is_done());
        assert_eq!(bodies, 0);
    }
}
