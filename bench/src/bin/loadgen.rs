//! `loadgen`: a single-threaded TCP echo load generator on `mio`.
//!
//! It is built on `mio` directly, not on aio or tokio, so it judges every
//! server alike, and it is lean: one `epoll_wait` wakes it for a batch of
//! connections, each response costs one `read` (a short read is taken as
//! "drained", so there is no wasted `EAGAIN` read) and each request one
//! `write`, and no `epoll_ctl` is made after connecting.
//!
//! Every message is `size - 1` bytes of payload and a `'\n'`, so line-based
//! echo servers work too; a response is complete when `size` bytes came back.
//!
//! Modes:
//! - closed loop (default): `--conns C` connections, one request in flight on
//!   each; a new request is sent as soon as the previous response is complete.
//!   Latency runs from the send to the last byte of the response.
//! - open loop (`--rate R`): R requests per second in total, sent on a fixed
//!   schedule round-robin over the connections whether or not earlier ones
//!   were answered (several may be in flight on one connection). Latency runs
//!   from the *scheduled* send time, so a slow server cannot hide its queueing
//!   (no coordinated omission). Requests scheduled in the window but not
//!   answered within 1 s after it are counted as `unfinished`.
//!
//! The run is `--warmup` seconds that are not counted, then `--duration`
//! seconds that are (or, with `--requests N`, exactly N requests in total,
//! those completed after the warmup counted). With `--server-pid PID` the
//! server's user and system CPU ticks over the measured window are reported
//! too. `--json` prints one JSON line for scripts; otherwise a short human
//! summary. Connection errors are reported, never a panic; the exit code is 1
//! when no request at all was completed.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use aio_bench::{cpu_ns, cpu_ticks, CpuTicks, Histogram};
use clap::Parser;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

#[derive(Parser, Debug)]
#[command(
    name = "loadgen",
    about = "Single-threaded mio load generator for echo servers"
)]
struct Args {
    /// Server address.
    #[arg(long, default_value = "127.0.0.1:8000")]
    addr: SocketAddr,
    /// Number of connections.
    #[arg(long, default_value_t = 1)]
    conns: usize,
    /// Message size in bytes, newline included (at least 1).
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// Measured seconds (ignored with --requests, where it bounds the run).
    #[arg(long, default_value_t = 3.0)]
    duration: f64,
    /// Send exactly N requests in total instead of running for --duration.
    #[arg(long)]
    requests: Option<u64>,
    /// Seconds of load before measuring starts (not counted).
    #[arg(long, default_value_t = 0.0)]
    warmup: f64,
    /// Open-loop mode: total requests per second, spread over the connections.
    #[arg(long)]
    rate: Option<f64>,
    /// Seconds allowed for all connections to be established.
    #[arg(long, default_value_t = 10.0)]
    connect_timeout: f64,
    /// PID of the server, to report its CPU time over the measured window.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Open loop: most requests in flight on one connection before further
    /// scheduled sends on it are dropped (and counted).
    #[arg(long, default_value_t = 4096)]
    max_inflight: usize,
    /// Print one JSON line of results.
    #[arg(long)]
    json: bool,
    /// Also print to stderr how many responses completed in each interval of
    /// this many milliseconds (to spot stalls).
    #[arg(long)]
    timeline_ms: Option<u64>,
}

/// One client connection.
struct Conn {
    stream: TcpStream,
    alive: bool,
    connected: bool,
    /// Start times of the requests whose responses are still due, oldest first.
    inflight: VecDeque<Instant>,
    /// Bytes queued but not yet written.
    unwritten: usize,
    /// Bytes written so far (its remainder mod size is the message offset).
    written: u64,
    /// Bytes of the oldest response received so far.
    partial: usize,
}

#[derive(Default)]
struct Stats {
    hist: Histogram,
    completed: u64,
    unfinished: u64,
    dropped: u64,
    errors: u64,
    connect_errors: u64,
    first_error: Option<String>,
}

impl Stats {
    fn error(&mut self, what: &str, e: &dyn std::fmt::Display) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(format!("{what}: {e}"));
        }
    }
}

struct Gen {
    args: Args,
    poll: Poll,
    conns: Vec<Conn>,
    /// The message repeated enough times to fill one big write.
    wbuf: Vec<u8>,
    rbuf: Vec<u8>,
    stats: Stats,
    /// Requests sent so far (all phases).
    issued: u64,
    /// Measured window, set when it opens.
    window_start: Option<Instant>,
    /// Responses received so far (all phases).
    answered: u64,
    /// Requests lost with connections that failed.
    lost: u64,
    /// Connections still usable.
    alive: usize,
    /// Closed loop: no new requests are sent once this is set.
    stopping: bool,
    /// Completions per --timeline-ms interval since `start`.
    timeline: Vec<u64>,
    start: Instant,
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.max(0.0))
}

impl Gen {
    /// Marks connection `i` as failed, counting the error.
    fn fail(&mut self, i: usize, what: &str, e: &dyn std::fmt::Display) {
        let c = &mut self.conns[i];
        if c.alive {
            c.alive = false;
            self.alive -= 1;
            self.lost += c.inflight.len() as u64;
            c.inflight.clear();
            c.unwritten = 0;
        }
        self.stats.error(what, e);
    }

    /// Requests sent and neither answered nor lost.
    fn inflight(&self) -> u64 {
        self.issued - self.answered - self.lost
    }

    /// Queues one request on connection `i`, started (or scheduled) at `t`.
    fn enqueue(&mut self, i: usize, t: Instant) {
        let c = &mut self.conns[i];
        c.inflight.push_back(t);
        c.unwritten += self.args.size;
        self.issued += 1;
    }

    /// Writes as much of connection `i`'s queued bytes as the socket takes.
    fn flush(&mut self, i: usize) {
        let size = self.args.size as u64;
        loop {
            let c = &mut self.conns[i];
            if !(c.alive && c.connected && c.unwritten > 0) {
                return;
            }
            let off = (c.written % size) as usize;
            let end = (off + c.unwritten).min(self.wbuf.len());
            match c.stream.write(&self.wbuf[off..end]) {
                Ok(0) => return self.fail(i, "write", &"wrote 0 bytes"),
                Ok(n) => {
                    c.unwritten -= n;
                    c.written += n as u64;
                    if n < end - off {
                        return; // socket buffer full: wait for writable
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return self.fail(i, "write", &e),
            }
        }
    }

    /// Reads what connection `i` has, completing responses. Returns the
    /// number of responses completed.
    fn read(&mut self, i: usize, open_loop: bool, end: Instant) -> usize {
        let size = self.args.size;
        let mut done = 0;
        loop {
            let c = &mut self.conns[i];
            if !c.alive {
                return done;
            }
            match c.stream.read(&mut self.rbuf) {
                Ok(0) => {
                    if c.inflight.is_empty() {
                        c.alive = false;
                        self.alive -= 1;
                    } else {
                        self.fail(i, "read", &"server closed the connection");
                    }
                    return done;
                }
                Ok(n) => {
                    c.partial += n;
                    let now = Instant::now();
                    while c.partial >= size {
                        c.partial -= size;
                        let Some(t0) = c.inflight.pop_front() else {
                            self.fail(i, "read", &"more bytes than were sent");
                            return done;
                        };
                        done += 1;
                        self.answered += 1;
                        if let Some(ms) = self.args.timeline_ms {
                            let slot = (now - self.start).as_millis() as usize / ms.max(1) as usize;
                            if self.timeline.len() <= slot {
                                self.timeline.resize(slot + 1, 0);
                            }
                            self.timeline[slot] += 1;
                        }
                        // Closed loop counts what completes in the window;
                        // open loop what was scheduled in it.
                        let at = if open_loop { t0 } else { now };
                        if self.window_start.is_some_and(|w| at >= w) && at < end {
                            self.stats.completed += 1;
                            let ns = now.saturating_duration_since(t0).as_nanos();
                            self.stats.hist.record(ns.min(u128::from(u64::MAX)) as u64);
                        }
                    }
                    if n < self.rbuf.len() {
                        return done; // short read: the socket is drained
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return done,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.fail(i, "read", &e);
                    return done;
                }
            }
        }
    }

    /// Closed loop: after a response on `i`, send the next request.
    fn next_request(&mut self, i: usize) {
        if self.stopping || !self.conns[i].inflight.is_empty() {
            return;
        }
        if self.args.requests.is_some_and(|n| self.issued >= n) {
            return;
        }
        self.enqueue(i, Instant::now());
        self.flush(i);
    }

    /// Connects every connection; returns when all are established (or failed).
    fn connect(&mut self, events: &mut Events) -> io::Result<()> {
        for i in 0..self.args.conns {
            match TcpStream::connect(self.args.addr) {
                Ok(mut stream) => {
                    self.poll.registry().register(
                        &mut stream,
                        Token(i),
                        Interest::READABLE | Interest::WRITABLE,
                    )?;
                    self.conns.push(Conn {
                        stream,
                        alive: true,
                        connected: false,
                        inflight: VecDeque::new(),
                        unwritten: 0,
                        written: 0,
                        partial: 0,
                    });
                }
                Err(e) => {
                    self.stats.connect_errors += 1;
                    if self.stats.first_error.is_none() {
                        self.stats.first_error = Some(format!("connect: {e}"));
                    }
                }
            }
        }
        let deadline = Instant::now() + secs(self.args.connect_timeout);
        let mut pending = self.conns.len();
        while pending > 0 {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            self.poll.poll(events, Some(deadline - now))?;
            for ev in events.iter() {
                let i = ev.token().0;
                let c = &mut self.conns[i];
                if c.connected || !c.alive {
                    continue;
                }
                // A refused or reset connect shows as an error or hang-up;
                // success as writable with a peer address.
                if let Ok(Some(e)) | Err(e) = c.stream.take_error() {
                    c.alive = false;
                    pending -= 1;
                    self.stats.connect_errors += 1;
                    if self.stats.first_error.is_none() {
                        self.stats.first_error = Some(format!("connect: {e}"));
                    }
                    continue;
                }
                if ev.is_writable() || ev.is_readable() {
                    match c.stream.peer_addr() {
                        Ok(_) => {
                            c.connected = true;
                            pending -= 1;
                            let _ = c.stream.set_nodelay(true);
                        }
                        Err(e) if e.kind() == io::ErrorKind::NotConnected => {}
                        Err(e) => {
                            c.alive = false;
                            pending -= 1;
                            self.stats.connect_errors += 1;
                            if self.stats.first_error.is_none() {
                                self.stats.first_error = Some(format!("connect: {e}"));
                            }
                        }
                    }
                }
            }
        }
        self.alive = self.conns.iter().filter(|c| c.alive && c.connected).count();
        for c in &mut self.conns {
            if c.alive && !c.connected {
                c.alive = false;
                self.stats.connect_errors += 1;
                if self.stats.first_error.is_none() {
                    self.stats.first_error = Some("connect: timed out".into());
                }
            }
        }
        Ok(())
    }
}

/// Results of a run, for printing.
struct Report {
    window: Duration,
    server: Option<(CpuTicks, CpuTicks)>,
    server_ns: Option<(u64, u64)>,
    client: Option<(CpuTicks, CpuTicks)>,
    connect_time: Duration,
}

fn run(args: Args) -> io::Result<(Gen, Report)> {
    let size = args.size;
    let reps = (65536 / size).max(2);
    let wbuf: Vec<u8> = (0..reps)
        .flat_map(|_| {
            let mut m = vec![b'x'; size - 1];
            m.push(b'\n');
            m
        })
        .collect();
    let mut g = Gen {
        poll: Poll::new()?,
        conns: Vec::with_capacity(args.conns),
        wbuf,
        rbuf: vec![0; 65536.max(size)],
        stats: Stats::default(),
        issued: 0,
        window_start: None,
        answered: 0,
        lost: 0,
        alive: 0,
        stopping: false,
        timeline: Vec::new(),
        start: Instant::now(),
        args,
    };
    let mut events = Events::with_capacity(1024.max(g.args.conns));
    let t_connect = Instant::now();
    g.connect(&mut events)?;
    let connect_time = t_connect.elapsed();

    let open_loop = g.args.rate.is_some();
    let start = Instant::now();
    g.start = start;
    let warm_end = start + secs(g.args.warmup);
    // With --requests the duration only bounds the run (generously).
    let end = if g.args.requests.is_some() {
        warm_end + secs(g.args.duration.max(120.0))
    } else {
        warm_end + secs(g.args.duration)
    };
    let drain_end = end + Duration::from_secs(1);
    let server_pid = g.args.server_pid.map(|p| p.to_string());
    let sample = |pid: &Option<String>| pid.as_deref().and_then(|p| cpu_ticks(p).ok());
    let sample_ns = |pid: &Option<String>| pid.as_deref().and_then(|p| cpu_ns(p).ok());
    let mut server_cpu = (None, None);
    let mut server_ns = (None, None);
    let mut client_cpu = (None, None);
    if g.args.warmup <= 0.0 {
        g.window_start = Some(start);
        server_cpu.0 = sample(&server_pid);
        server_ns.0 = sample_ns(&server_pid);
        client_cpu.0 = cpu_ticks("self").ok();
    }

    // Open-loop schedule: request k is due at start + k / rate.
    let interval = g
        .args
        .rate
        .map(|r| Duration::from_secs_f64(1.0 / r.max(1e-9)));
    let mut next_due = start;
    let mut next_conn = 0usize;

    if !open_loop {
        for i in 0..g.conns.len() {
            if g.conns[i].alive {
                g.next_request(i);
            }
        }
    }

    let mut window_end = None;
    loop {
        let now = Instant::now();
        if g.window_start.is_none() && now >= warm_end {
            g.window_start = Some(now);
            server_cpu.0 = sample(&server_pid);
            server_ns.0 = sample_ns(&server_pid);
            client_cpu.0 = cpu_ticks("self").ok();
        }
        let requests_done = g
            .args
            .requests
            .is_some_and(|n| g.issued >= n && g.inflight() == 0);
        if window_end.is_none() && (now >= end || requests_done || g.alive == 0) {
            window_end = Some(if requests_done || g.alive == 0 {
                now
            } else {
                end
            });
            server_cpu.1 = sample(&server_pid);
            server_ns.1 = sample_ns(&server_pid);
            client_cpu.1 = cpu_ticks("self").ok();
            g.stopping = true;
            if !open_loop {
                break;
            }
        }
        if window_end.is_some() && (now >= drain_end || g.inflight() == 0) {
            break;
        }

        // Open loop: send everything that is due.
        if let Some(iv) = interval {
            while !g.stopping && next_due <= now {
                if g.args.requests.is_some_and(|n| g.issued >= n) {
                    break;
                }
                let n = g.conns.len();
                let mut found = None;
                for k in 0..n {
                    let i = (next_conn + k) % n;
                    if g.conns[i].alive {
                        found = Some(i);
                        next_conn = i + 1;
                        break;
                    }
                }
                let Some(i) = found else { break };
                if g.conns[i].inflight.len() >= g.args.max_inflight {
                    if g.window_start.is_some() {
                        g.stats.dropped += 1;
                    }
                } else {
                    g.enqueue(i, next_due);
                    g.flush(i);
                }
                next_due += iv;
            }
        }

        // Sleep until the next event or deadline. epoll waits in whole
        // milliseconds, so an open-loop send due sooner than that is met by
        // polling without blocking.
        let mut deadline = if window_end.is_some() {
            drain_end
        } else if g.window_start.is_none() {
            warm_end
        } else {
            end
        };
        if interval.is_some() && !g.stopping {
            deadline = deadline.min(next_due);
        }
        let wait = deadline.saturating_duration_since(Instant::now());
        let timeout = if interval.is_some() && wait < Duration::from_millis(2) {
            Duration::ZERO
        } else {
            wait
        };
        if let Err(e) = g.poll.poll(&mut events, Some(timeout)) {
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
        let stat_end = window_end.unwrap_or(end);
        for ev in events.iter() {
            let i = ev.token().0;
            if !g.conns[i].alive {
                continue;
            }
            if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                let done = g.read(i, open_loop, stat_end);
                if done > 0 && !open_loop {
                    g.next_request(i);
                }
            }
            if ev.is_writable() && g.conns[i].unwritten > 0 {
                g.flush(i);
            }
        }
    }
    // Whatever is still owed was scheduled in the window and never answered.
    if open_loop {
        let (ws, we) = (g.window_start, window_end.unwrap_or(end));
        for c in &g.conns {
            g.stats.unfinished += c
                .inflight
                .iter()
                .filter(|&&t| ws.is_some_and(|w| t >= w) && t < we)
                .count() as u64;
        }
    }
    let ws = g.window_start.unwrap_or(start);
    let window = window_end.unwrap_or(end).saturating_duration_since(ws);
    fn pair<T>(p: (Option<T>, Option<T>)) -> Option<(T, T)> {
        match p {
            (Some(a), Some(b)) => Some((a, b)),
            _ => None,
        }
    }
    let report = Report {
        window,
        server: pair(server_cpu),
        server_ns: pair(server_ns),
        client: pair(client_cpu),
        connect_time,
    };
    Ok((g, report))
}

fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn print_report(g: &Gen, r: &Report, out: &mut impl Write) -> io::Result<()> {
    let a = &g.args;
    let s = &g.stats;
    let h = &s.hist;
    let w = r.window.as_secs_f64();
    let rps = if w > 0.0 { s.completed as f64 / w } else { 0.0 };
    let us = |ns: u64| ns as f64 / 1000.0;
    let ticks = |p: Option<(CpuTicks, CpuTicks)>| {
        p.map(|(a, b)| {
            (
                b.user.saturating_sub(a.user),
                b.system.saturating_sub(a.system),
            )
        })
    };
    let server = ticks(r.server);
    let client = ticks(r.client);
    let server_ns = r.server_ns.map(|(a, b)| b.saturating_sub(a));
    let mode = if a.rate.is_some() { "open" } else { "closed" };
    if a.json {
        let opt = |v: Option<u64>| v.map_or("null".to_string(), |v| v.to_string());
        let rate = a.rate.map_or("null".to_string(), |r| format!("{r}"));
        writeln!(
            out,
            "{{\"mode\":\"{mode}\",\"addr\":\"{}\",\"conns\":{},\"size\":{},\"rate\":{rate},\
             \"warmup_s\":{},\"window_s\":{w:.6},\"completed\":{},\"rps\":{rps:.1},\
             \"p50_us\":{:.1},\"p99_us\":{:.1},\"p999_us\":{:.1},\"min_us\":{:.1},\
             \"max_us\":{:.1},\"mean_us\":{:.1},\"errors\":{},\"connect_errors\":{},\
             \"unfinished\":{},\"dropped\":{},\"inflight_end\":{},\"alive\":{},\"connect_s\":{:.6},\
             \"server_user_ticks\":{},\"server_sys_ticks\":{},\"server_cpu_ns\":{},\
             \"client_user_ticks\":{},\"client_sys_ticks\":{},\"first_error\":{}}}",
            a.addr,
            a.conns,
            a.size,
            a.warmup,
            s.completed,
            us(h.quantile(0.5)),
            us(h.quantile(0.99)),
            us(h.quantile(0.999)),
            us(h.min()),
            us(h.max()),
            h.mean() / 1000.0,
            s.errors,
            s.connect_errors,
            s.unfinished,
            s.dropped,
            g.inflight(),
            g.alive,
            r.connect_time.as_secs_f64(),
            opt(server.map(|t| t.0)),
            opt(server.map(|t| t.1)),
            opt(server_ns),
            opt(client.map(|t| t.0)),
            opt(client.map(|t| t.1)),
            s.first_error.as_deref().map_or("null".into(), json_str),
        )?;
    } else {
        writeln!(
            out,
            "{mode} loop, {} conns x {} B to {}: {} requests in {w:.3} s = {rps:.0} req/s",
            a.conns, a.size, a.addr, s.completed
        )?;
        writeln!(
            out,
            "latency us: p50 {:.1}  p99 {:.1}  p99.9 {:.1}  min {:.1}  max {:.1}  mean {:.1}",
            us(h.quantile(0.5)),
            us(h.quantile(0.99)),
            us(h.quantile(0.999)),
            us(h.min()),
            us(h.max()),
            h.mean() / 1000.0
        )?;
        if let (Some((u, sy)), Some(ns)) = (server, server_ns) {
            let per_req = if s.completed > 0 {
                ns as f64 / 1000.0 / s.completed as f64
            } else {
                0.0
            };
            writeln!(
                out,
                "server CPU over the window: {:.3} s ({per_req:.2} us/req); ticks user {u}, system {sy}",
                ns as f64 / 1e9
            )?;
        }
        if let Some((u, sy)) = client {
            writeln!(
                out,
                "client CPU ticks over the window: user {u}, system {sy}"
            )?;
        }
        if s.errors + s.connect_errors + s.unfinished + s.dropped > 0 || s.completed == 0 {
            writeln!(
                out,
                "errors {}  connect errors {}  unfinished {}  dropped {}  \
                 in flight at the end {}  alive {}/{}",
                s.errors,
                s.connect_errors,
                s.unfinished,
                s.dropped,
                g.inflight(),
                g.alive,
                a.conns
            )?;
        }
    }
    out.flush()
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.size == 0 || args.conns == 0 {
        eprintln!("loadgen: --size and --conns must be at least 1");
        return ExitCode::from(2);
    }
    if args.rate.is_some_and(|r| !(r > 0.0 && r.is_finite())) {
        eprintln!("loadgen: --rate must be a positive number");
        return ExitCode::from(2);
    }
    match run(args) {
        Ok((g, report)) => {
            // A closed stdout (e.g. `| head`) is not worth a panic.
            let _ = print_report(&g, &report, &mut io::stdout().lock());
            if let Some(ms) = g.args.timeline_ms {
                for (i, n) in g.timeline.iter().enumerate() {
                    eprintln!("timeline {:>8} ms {n}", i as u64 * ms.max(1));
                }
            }
            if let Some(e) = &g.stats.first_error {
                eprintln!("loadgen: {e}");
            }
            if g.stats.completed == 0 {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("loadgen: {e}");
            ExitCode::FAILURE
        }
    }
}
