//! A protocol that records what happens to it, for the transport tests.
//!
//! Every event a [`Recorder`] receives goes into a shared log and down a
//! channel, tagged with the recorder's id, so a test can both await "the
//! next event of connection 2" and check the whole history afterwards. A
//! recorder also logs its own drop: the transport drops its protocol right
//! after `connection_lost`, so once `Dropped` is in the log no later
//! callback is possible, and "exactly once" becomes something to check
//! rather than to hope for.
//!
//! Behaviour is plugged in with hooks (echo, write on EOF, panic on
//! `boom`); checks made inside a hook are pushed to [`Sink::failures`]
//! rather than asserted there, since a panic inside a callback is exactly
//! what the transport contains and would hide the failure.

use std::cell::{Cell, RefCell};
use std::io;
use std::rc::Rc;

use aio::transport::{Protocol, Transport};

use super::{channel, Receiver, Sender};

/// One protocol event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ev {
    Made,
    Data(Vec<u8>),
    Eof,
    /// `connection_lost`, with the error's kind and text.
    Lost(Option<(io::ErrorKind, String)>),
    PauseWriting,
    ResumeWriting,
    /// The transport let go of the protocol.
    Dropped,
}

type MadeHook = Box<dyn FnMut(&Transport)>;
type DataHook = Box<dyn FnMut(&Transport, &[u8])>;
type EofHook = Box<dyn FnMut(&Transport) -> bool>;
type FlowHook = Box<dyn FnMut(&Transport)>;

/// What recorders and the test share.
#[derive(Default)]
struct Shared {
    log: RefCell<Vec<(usize, Ev)>>,
    next_id: Cell<usize>,
    /// The transport of each recorder, by id, as `connection_made` saw it.
    transports: RefCell<Vec<Option<Transport>>>,
    /// Checks that failed inside a callback.
    failures: RefCell<Vec<String>>,
}

/// Where recorders report; cloned into every protocol factory.
#[derive(Clone)]
pub struct Sink {
    shared: Rc<Shared>,
    tx: Sender<(usize, Ev)>,
}

/// The test's side: awaits events and reads the log. It holds no sender,
/// so once every recorder (and sink) is gone a wait ends instead of hanging.
pub struct Events {
    shared: Rc<Shared>,
    rx: Receiver<(usize, Ev)>,
    /// Per recorder, how many of its events `until` has gone past.
    cursors: RefCell<Vec<usize>>,
}

/// A new sink and the events it collects.
pub fn sink() -> (Sink, Events) {
    let (tx, rx) = channel();
    let shared = Rc::new(Shared::default());
    (
        Sink {
            shared: shared.clone(),
            tx,
        },
        Events {
            shared,
            rx,
            cursors: RefCell::default(),
        },
    )
}

impl Sink {
    /// A recorder with the next id and no hooks (`eof_received` returns
    /// false, nothing is written).
    pub fn recorder(&self) -> Recorder {
        let id = self.shared.next_id.get();
        self.shared.next_id.set(id + 1);
        self.shared.transports.borrow_mut().push(None);
        Recorder {
            id,
            sink: self.clone(),
            transport: None,
            on_made: None,
            on_data: None,
            on_eof: None,
            on_pause: None,
            on_resume: None,
        }
    }

    fn record(&self, id: usize, ev: Ev) {
        self.shared.log.borrow_mut().push((id, ev.clone()));
        self.tx.send((id, ev));
    }

    /// Notes a failed check made inside a callback.
    pub fn fail(&self, what: impl Into<String>) {
        self.shared.failures.borrow_mut().push(what.into());
    }
}

impl Events {
    /// Waits for the next event of recorder `id` that matches `pred`, at
    /// once if it is already logged. "Next" is per recorder: each recorder
    /// has a cursor that moves past the event returned, and waiting on one
    /// recorder never skips another's events.
    pub async fn until(&mut self, id: usize, pred: impl Fn(&Ev) -> bool) -> Ev {
        loop {
            if let Some(ev) = self.next_logged(id, &pred) {
                return ev;
            }
            // Something new was logged (by any recorder); look again.
            if super::within(self.rx.recv()).await.is_err() {
                panic!("every recorder is gone; still waiting for one of #{id}");
            }
        }
    }

    /// The first event of recorder `id` past its cursor that matches
    /// `pred`, moving the cursor past it.
    fn next_logged(&self, id: usize, pred: impl Fn(&Ev) -> bool) -> Option<Ev> {
        let log = self.log_of(id);
        let mut cursors = self.cursors.borrow_mut();
        if cursors.len() <= id {
            cursors.resize(id + 1, 0);
        }
        let from = cursors[id].min(log.len());
        let at = from + log[from..].iter().position(pred)?;
        cursors[id] = at + 1;
        Some(log[at].clone())
    }

    /// Waits until recorder `id` has been dropped by its transport (at
    /// once if it already was).
    pub async fn dropped(&mut self, id: usize) {
        if !self.log_of(id).contains(&Ev::Dropped) {
            self.until(id, |e| *e == Ev::Dropped).await;
        }
    }

    /// Waits until recorder `id` has received `n` bytes in total and returns
    /// them all.
    pub async fn data(&mut self, id: usize, n: usize) -> Vec<u8> {
        loop {
            let got = self.data_of(id);
            if got.len() >= n {
                return got;
            }
            self.until(id, |e| matches!(e, Ev::Data(_))).await;
        }
    }

    /// The events of recorder `id` so far, in order.
    pub fn log_of(&self, id: usize) -> Vec<Ev> {
        self.shared
            .log
            .borrow()
            .iter()
            .filter(|(i, _)| *i == id)
            .map(|(_, e)| e.clone())
            .collect()
    }

    /// The bytes recorder `id` received so far, concatenated.
    pub fn data_of(&self, id: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for ev in self.log_of(id) {
            if let Ev::Data(d) = ev {
                out.extend_from_slice(&d);
            }
        }
        out
    }

    /// How many `connection_lost` calls recorder `id` got.
    pub fn lost_count(&self, id: usize) -> usize {
        self.log_of(id)
            .iter()
            .filter(|e| matches!(e, Ev::Lost(_)))
            .count()
    }

    /// The transport recorder `id` was given in `connection_made`.
    pub fn transport(&self, id: usize) -> Transport {
        self.shared.transports.borrow()[id]
            .clone()
            .unwrap_or_else(|| panic!("recorder #{id} has no transport yet"))
    }

    /// How many recorders the factories made.
    pub fn count(&self) -> usize {
        self.shared.next_id.get()
    }

    /// Checks that failed inside callbacks.
    pub fn failures(&self) -> Vec<String> {
        self.shared.failures.borrow().clone()
    }
}

/// Checks the documented order
/// `connection_made (data_received)* eof_received? connection_lost` (then
/// the drop), with nothing after it; returns the data received.
pub fn assert_callback_order(log: &[Ev]) -> Vec<u8> {
    let mut data = Vec::new();
    let mut i = 0;
    assert_eq!(log.first(), Some(&Ev::Made), "first event, in {log:?}");
    i += 1;
    while let Some(Ev::Data(d)) = log.get(i) {
        data.extend_from_slice(d);
        i += 1;
    }
    if log.get(i) == Some(&Ev::Eof) {
        i += 1;
    }
    assert!(
        matches!(log.get(i), Some(Ev::Lost(_))),
        "connection_lost expected at {i}, in {log:?}"
    );
    assert_eq!(log.get(i + 1), Some(&Ev::Dropped), "after lost, in {log:?}");
    assert_eq!(log.len(), i + 2, "events after the drop, in {log:?}");
    data
}

/// A protocol that records its events and runs optional hooks.
pub struct Recorder {
    pub id: usize,
    pub sink: Sink,
    pub transport: Option<Transport>,
    pub on_made: Option<MadeHook>,
    pub on_data: Option<DataHook>,
    /// Returns what `eof_received` returns; false without a hook.
    pub on_eof: Option<EofHook>,
    pub on_pause: Option<FlowHook>,
    pub on_resume: Option<FlowHook>,
}

impl Recorder {
    pub fn on_made(mut self, f: impl FnMut(&Transport) + 'static) -> Self {
        self.on_made = Some(Box::new(f));
        self
    }

    pub fn on_data(mut self, f: impl FnMut(&Transport, &[u8]) + 'static) -> Self {
        self.on_data = Some(Box::new(f));
        self
    }

    pub fn on_eof(mut self, f: impl FnMut(&Transport) -> bool + 'static) -> Self {
        self.on_eof = Some(Box::new(f));
        self
    }

    pub fn on_pause(mut self, f: impl FnMut(&Transport) + 'static) -> Self {
        self.on_pause = Some(Box::new(f));
        self
    }

    pub fn on_resume(mut self, f: impl FnMut(&Transport) + 'static) -> Self {
        self.on_resume = Some(Box::new(f));
        self
    }

    /// Echoes every byte back.
    pub fn echo(self) -> Self {
        self.on_data(|t, d| t.write(d))
    }

    fn transport(&self) -> &Transport {
        self.transport
            .as_ref()
            .expect("a callback before connection_made")
    }
}

impl Protocol for Recorder {
    fn connection_made(&mut self, transport: &Transport) {
        self.transport = Some(transport.clone());
        self.sink.shared.transports.borrow_mut()[self.id] = Some(transport.clone());
        self.sink.record(self.id, Ev::Made);
        if let Some(f) = &mut self.on_made {
            f(transport);
        }
    }

    fn data_received(&mut self, data: &[u8]) {
        self.sink.record(self.id, Ev::Data(data.to_vec()));
        let t = self.transport().clone();
        if let Some(f) = &mut self.on_data {
            f(&t, data);
        }
    }

    fn eof_received(&mut self) -> bool {
        self.sink.record(self.id, Ev::Eof);
        let t = self.transport().clone();
        match &mut self.on_eof {
            Some(f) => f(&t),
            None => false,
        }
    }

    fn connection_lost(&mut self, error: Option<io::Error>) {
        let error = error.map(|e| (e.kind(), e.to_string()));
        self.sink.record(self.id, Ev::Lost(error));
    }

    fn pause_writing(&mut self) {
        self.sink.record(self.id, Ev::PauseWriting);
        let t = self.transport().clone();
        if let Some(f) = &mut self.on_pause {
            f(&t);
        }
    }

    fn resume_writing(&mut self) {
        self.sink.record(self.id, Ev::ResumeWriting);
        let t = self.transport().clone();
        if let Some(f) = &mut self.on_resume {
            f(&t);
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.sink.record(self.id, Ev::Dropped);
    }
}
