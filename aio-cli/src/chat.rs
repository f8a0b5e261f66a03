//! `aio chat`: a line-based chat room for telnet/nc users — seed 000's
//! `ServerState`, grown up.
//!
//! Each connection is a stream handler (`start_server`) that reads lines
//! and hands them to the [`Room`], shared by all handlers of the loop as
//! an `Rc<RefCell<_>>`. The room writes to every member's transport
//! without ever awaiting (no `drain`): one slow reader must not stall the
//! room. Instead, a member whose unsent backlog passes `--max-backlog` is
//! aborted and announced as gone, so neither its socket nor the server's
//! memory can be held hostage.
//!
//! What users see (every line ends with `\n`):
//!
//! ```text
//! Welcome! N user(s) online.      to the newcomer
//! * NAME joined (N online)        to the others
//! <NAME> line                     each line, to the others
//! * OLD is now NEW                /nick NEW, to the others
//! * online: NAME, NAME, ...       /who, to the asker
//! * NAME left (N online)          /quit, EOF or disconnection, to the others
//! ```

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::process::ExitCode;
use std::rc::Rc;

use aio::streams::{StreamOptions, StreamReader, StreamWriter, DEFAULT_LIMIT};
use aio::transport::Transport;

use crate::cli::ChatArgs;
use crate::lines::{self, Line};
use crate::server::{self, log_connection_error, Config, Listen};

/// Runs `aio chat` and returns the exit status.
pub(crate) fn run(args: ChatArgs) -> ExitCode {
    let tls = match server::tls_acceptor("chat", &args.tls) {
        Ok(tls) => tls,
        Err(status) => return status,
    };
    let config = Config::new("chat", &args.serve, 1);
    let max_backlog = args.max_backlog;
    server::serve_server(config, move |_worker, listen: Listen| {
        let options = StreamOptions {
            limit: DEFAULT_LIMIT,
            bind: listen.bind,
            server_tls: tls.clone(),
            ..StreamOptions::default()
        };
        async move {
            let room = Rc::new(RefCell::new(Room::new(max_backlog)));
            let handler = move |reader, writer| member(room.clone(), reader, writer);
            aio::streams::start_server_with(handler, &listen.host, listen.port, &options).await
        }
    })
}

/// One member's connection: join, hand each line to the room, leave.
async fn member(room: Rc<RefCell<Room>>, mut reader: StreamReader, writer: StreamWriter) {
    let name = writer
        .peer_addr()
        .map_or_else(|| "anonymous".to_owned(), |a| a.to_string());
    let peer = name.clone();
    let id = room.borrow_mut().join(name, writer.transport().clone());
    loop {
        let line = match lines::read_line(&mut reader).await {
            Ok(Line::Text(line)) => line,
            Ok(Line::Eof) => break,
            Ok(Line::TooLong) => {
                tracing::debug!("{peer}: line over {} bytes", reader.limit());
                writer.write(lines::TOO_LONG);
                break;
            }
            Err(e) => {
                log_connection_error(&peer, &e);
                break;
            }
        };
        if room.borrow_mut().said(id, line) == Next::Leave {
            break;
        }
    }
    room.borrow_mut().leave(id);
    // Dropping the writer closes the connection once its buffer is sent
    // (at once if the room aborted it).
}

/// Whether a member's handler goes on reading.
#[derive(Debug, PartialEq, Eq)]
enum Next {
    /// Stay in the room.
    Read,
    /// `/quit`, or the member is no longer in the room.
    Leave,
}

/// The members of one loop's chat room (seed 000's `ServerState`).
#[derive(Debug)]
struct Room {
    /// Members by id; ids only grow, so this is join order, which `/who`
    /// shows.
    members: BTreeMap<u64, Member>,
    /// The id of the next member.
    next_id: u64,
    /// Unsent bytes a member may fall behind by before it is dropped.
    max_backlog: usize,
}

/// One person in the room.
#[derive(Debug)]
struct Member {
    /// Shown to others; the peer's `IP:PORT` until `/nick`.
    name: String,
    /// Its connection, written to without waiting.
    transport: Transport,
}

impl Room {
    fn new(max_backlog: usize) -> Room {
        Room {
            members: BTreeMap::new(),
            next_id: 0,
            max_backlog,
        }
    }

    /// Adds a member, welcomes it and tells the others; returns its id.
    fn join(&mut self, name: String, transport: Transport) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        let joined = format!("* {name} joined ({} online)", self.members.len() + 1);
        self.members.insert(id, Member { name, transport });
        let welcome = format!("Welcome! {} user(s) online.", self.members.len());
        self.send(&[id], &welcome);
        self.send(&self.others(id), &joined);
        id
    }

    /// Removes a member (if it is still here) and tells the others.
    fn leave(&mut self, id: u64) {
        if let Some(gone) = self.members.remove(&id) {
            let left = format!("* {} left ({} online)", gone.name, self.members.len());
            self.send(&self.others(id), &left);
        }
    }

    /// Handles one line from member `id`: a command or a message.
    fn said(&mut self, id: u64, line: &[u8]) -> Next {
        let Some(me) = self.members.get(&id) else {
            // Dropped for its backlog while its last lines were buffered.
            return Next::Leave;
        };
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let text = String::from_utf8_lossy(line);
        let (command, argument) = text.split_once(' ').unwrap_or((&*text, ""));
        match command {
            "/quit" => return Next::Leave,
            "/who" => {
                let names: Vec<&str> = self.members.values().map(|m| m.name.as_str()).collect();
                let online = format!("* online: {}", names.join(", "));
                self.send(&[id], &online);
            }
            "/nick" => self.rename(id, argument.trim()),
            _ if text.is_empty() => {}
            _ => {
                let message = format!("<{}> {text}", me.name);
                self.send(&self.others(id), &message);
            }
        }
        Next::Read
    }

    /// `/nick NEW`: renames member `id`, or tells it why not.
    fn rename(&mut self, id: u64, new: &str) {
        let refusal = if new.is_empty() {
            Some("* usage: /nick NAME (a name cannot be empty)".to_owned())
        } else if let Some((&holder, _)) = self.members.iter().find(|(_, m)| m.name == new) {
            Some(if holder == id {
                format!("* you are already {new}")
            } else {
                format!("* the name {new} is taken")
            })
        } else {
            None
        };
        if let Some(refusal) = refusal {
            self.send(&[id], &refusal);
            return;
        }
        let Some(me) = self.members.get_mut(&id) else {
            return;
        };
        let old = std::mem::replace(&mut me.name, new.to_owned());
        let renamed = format!("* {old} is now {new}");
        self.send(&self.others(id), &renamed);
    }

    /// Every member but `id`.
    fn others(&self, id: u64) -> Vec<u64> {
        self.members.keys().copied().filter(|&k| k != id).collect()
    }

    /// Writes `text` and a newline to each of `to`, never waiting. A
    /// member whose backlog passes the limit is aborted and removed, and
    /// the others are told it left (which may push another over, hence
    /// the queue).
    fn send(&mut self, to: &[u64], text: &str) {
        let mut queue = VecDeque::from([(to.to_vec(), format!("{text}\n"))]);
        while let Some((to, line)) = queue.pop_front() {
            for id in to {
                let Some(member) = self.members.get(&id) else {
                    continue;
                };
                member.transport.write(line.as_bytes());
                let backlog = member.transport.write_buffer_size();
                if backlog <= self.max_backlog {
                    continue;
                }
                tracing::info!(
                    "{}: {backlog} bytes unsent, over the backlog limit of {}: disconnecting",
                    member.name,
                    self.max_backlog
                );
                member.transport.abort();
                if let Some(gone) = self.members.remove(&id) {
                    let left = format!("* {} left ({} online)\n", gone.name, self.members.len());
                    queue.push_back((self.members.keys().copied().collect(), left));
                }
            }
        }
    }
}
