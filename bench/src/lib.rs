//! Shared pieces of the `aio-bench` binaries: a log-linear latency histogram,
//! CPU-time sampling from `/proc`, and the `listening on IP:PORT` announcement
//! every peer server prints when it is ready.

use std::io::Write;
use std::net::SocketAddr;

/// Number of mantissa bits kept per power of two: values are recorded with a
/// relative error below 2^-(BITS-1) (under 1 %).
const BITS: u32 = 8;
const HALF: usize = 1 << (BITS - 1);
const BUCKETS: usize = (64 - BITS as usize + 1) * HALF + HALF;

/// A log-linear histogram of `u64` values (nanoseconds in practice).
///
/// Values below 2^BITS are exact; above that each power of two is split into
/// 2^(BITS-1) equal buckets, as in HdrHistogram, so quantiles are accurate to
/// better than 1 % of the value at any magnitude.
#[derive(Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    sum: u128,
    min: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

impl Histogram {
    /// An empty histogram.
    pub fn new() -> Self {
        Histogram {
            counts: vec![0; BUCKETS],
            total: 0,
            sum: 0,
            min: u64::MAX,
            max: 0,
        }
    }

    fn index(v: u64) -> usize {
        if v < (1 << BITS) {
            return v as usize;
        }
        let msb = 63 - v.leading_zeros();
        let shift = msb - (BITS - 1);
        (shift as usize) * HALF + (v >> shift) as usize
    }

    /// The smallest and largest value that fall into bucket `i`.
    fn bounds(i: usize) -> (u64, u64) {
        if i < (1 << BITS) {
            return (i as u64, i as u64);
        }
        let shift = (i / HALF - 1) as u32;
        let mantissa = (i - (shift as usize) * HALF) as u64;
        let lo = mantissa << shift;
        (lo, lo + ((1u64 << shift) - 1))
    }

    /// Records one value.
    pub fn record(&mut self, v: u64) {
        self.counts[Self::index(v)] += 1;
        self.total += 1;
        self.sum += u128::from(v);
        self.min = self.min.min(v);
        self.max = self.max.max(v);
    }

    /// Number of recorded values.
    pub fn len(&self) -> u64 {
        self.total
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// Smallest recorded value (0 when empty).
    pub fn min(&self) -> u64 {
        if self.total == 0 {
            0
        } else {
            self.min
        }
    }

    /// Largest recorded value (exact).
    pub fn max(&self) -> u64 {
        self.max
    }

    /// Arithmetic mean of the recorded values (0 when empty).
    pub fn mean(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.sum as f64 / self.total as f64
        }
    }

    /// The value at quantile `q` (0.0..=1.0): the midpoint of the bucket that
    /// holds the value of rank ceil(q * len), clamped to the exact min and
    /// max; the bottom and top ranks give the exact min and max.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        if rank >= self.total {
            return self.max;
        }
        if rank == 1 {
            return self.min;
        }
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let (lo, hi) = Self::bounds(i);
                return (lo + (hi - lo) / 2).clamp(self.min, self.max);
            }
        }
        self.max
    }

    /// Adds every value of `other` to `self`.
    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }
}

/// User and system CPU time of a process, in clock ticks (`CLK_TCK`), as
/// `/proc/PID/stat` fields 14 and 15 give them (all threads included).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuTicks {
    /// User-mode time.
    pub user: u64,
    /// Kernel-mode time.
    pub system: u64,
}

/// Reads the CPU ticks of `pid` (`"self"` for this process) from `/proc`.
pub fn cpu_ticks(pid: &str) -> std::io::Result<CpuTicks> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    parse_stat(&stat).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("unparsable /proc/{pid}/stat"),
        )
    })
}

fn parse_stat(stat: &str) -> Option<CpuTicks> {
    // The command name (field 2) may hold spaces and parentheses: skip past
    // the last ')'. Field 3 (state) is then the first word.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let user = fields.nth(11)?.parse().ok()?;
    let system = fields.next()?.parse().ok()?;
    Some(CpuTicks { user, system })
}

/// Nanoseconds process `pid` has spent on a CPU (user and kernel together),
/// summed over its live threads from `/proc/PID/task/*/schedstat`. Unlike the
/// tick counts of [`cpu_ticks`] this is precise to the nanosecond.
pub fn cpu_ns(pid: &str) -> std::io::Result<u64> {
    let mut total = 0u64;
    for entry in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let path = entry?.path().join("schedstat");
        // A thread may exit between listing and reading: skip it.
        if let Ok(s) = std::fs::read_to_string(path) {
            total += s
                .split_whitespace()
                .next()
                .and_then(|f| f.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    Ok(total)
}

/// Prints `listening on IP:PORT` to stdout and flushes it: the readiness
/// contract every server in the benchmark follows.
pub fn announce(addr: SocketAddr) {
    let mut out = std::io::stdout().lock();
    // A closed stdout must not stop the server: ignore write errors.
    let _ = writeln!(out, "listening on {addr}");
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_tight() {
        let mut prev_hi = None;
        for i in 0..BUCKETS {
            let (lo, hi) = Histogram::bounds(i);
            if let Some(p) = prev_hi {
                assert_eq!(lo, p + 1, "bucket {i}");
            }
            assert_eq!(Histogram::index(lo), i);
            assert_eq!(Histogram::index(hi), i);
            assert!((hi - lo) as f64 <= lo as f64 / 127.0 + 1.0, "bucket {i}");
            if hi == u64::MAX {
                return;
            }
            prev_hi = Some(hi);
        }
        panic!("buckets do not reach u64::MAX");
    }

    #[test]
    fn quantiles() {
        let mut h = Histogram::new();
        for v in 1..=100_000u64 {
            h.record(v * 1000);
        }
        let p50 = h.quantile(0.5) as f64;
        let p99 = h.quantile(0.99) as f64;
        assert!((p50 / 50_000_000.0 - 1.0).abs() < 0.01, "{p50}");
        assert!((p99 / 99_000_000.0 - 1.0).abs() < 0.01, "{p99}");
        assert_eq!(h.quantile(1.0), 100_000_000);
        assert_eq!(h.quantile(0.0), 1000);
        assert_eq!(h.len(), 100_000);
        let mut g = Histogram::new();
        g.merge(&h);
        assert_eq!(g.quantile(0.5), h.quantile(0.5));
    }

    #[test]
    fn parses_proc_stat() {
        let line = "1234 (a) b (c)) S 1 2 3 4 5 6 7 8 9 10 111 222 13 14 15";
        assert_eq!(
            parse_stat(line),
            Some(CpuTicks {
                user: 111,
                system: 222
            })
        );
        assert!(cpu_ticks("self").is_ok());
        assert!(cpu_ns("self").unwrap() > 0);
    }
}
