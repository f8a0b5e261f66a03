//! Pinning worker threads to CPUs (`Builder::pin_workers`).
//!
//! A pinned loop keeps its connections' socket buffers, its task slab and its
//! timers in one core's caches, and the scheduler cannot put two busy loops
//! on one core while another idles. The CPUs are the ones the starting
//! thread may use (its affinity mask, inherited from the process, which
//! `taskset` or a container's cpuset narrows), so pinning never widens what
//! the user chose.

use std::io;

use rustix::thread::{sched_getaffinity, sched_setaffinity, CpuSet};

/// A thread's set of allowed CPUs.
pub(crate) type CpuMask = CpuSet;

/// The CPUs the calling thread may run on, in increasing order.
pub(crate) fn allowed_cpus() -> io::Result<Vec<usize>> {
    let set = sched_getaffinity(None)?;
    Ok((0..CpuSet::MAX_CPU)
        .filter(|&cpu| set.is_set(cpu))
        .collect())
}

/// The CPU worker `index` runs on: the workers go round the allowed CPUs.
pub(crate) fn cpu_for(index: usize, allowed: &[usize]) -> Option<usize> {
    if allowed.is_empty() {
        None
    } else {
        Some(allowed[index % allowed.len()])
    }
}

/// Restricts the calling thread to `cpu`. Returns its previous mask, to put
/// back with [`restore`].
pub(crate) fn pin_current(cpu: usize) -> io::Result<CpuMask> {
    let before = sched_getaffinity(None)?;
    let mut only = CpuSet::new();
    only.set(cpu);
    sched_setaffinity(None, &only)?;
    Ok(before)
}

/// Gives the calling thread back the mask [`pin_current`] returned.
pub(crate) fn restore(mask: &CpuMask) -> io::Result<()> {
    Ok(sched_setaffinity(None, mask)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_go_round_the_allowed_cpus() {
        let allowed = [2, 5, 7];
        let cpus: Vec<_> = (0..5).map(|i| cpu_for(i, &allowed)).collect();
        assert_eq!(cpus, [Some(2), Some(5), Some(7), Some(2), Some(5)]);
        assert_eq!(cpu_for(0, &[]), None);
    }

    #[test]
    fn pinning_a_thread_narrows_it_and_restore_widens_it_again() {
        // On a thread of its own, so the test harness's thread keeps its mask
        // even if an assertion fails half-way.
        std::thread::spawn(|| {
            let allowed = allowed_cpus().expect("sched_getaffinity");
            assert!(!allowed.is_empty());
            let cpu = *allowed.last().expect("one CPU at least");
            let before = pin_current(cpu).expect("sched_setaffinity");
            assert_eq!(allowed_cpus().expect("sched_getaffinity"), [cpu]);
            assert_eq!(rustix::thread::sched_getcpu(), cpu);
            restore(&before).expect("restore");
            assert_eq!(allowed_cpus().expect("sched_getaffinity"), allowed);
        })
        .join()
        .expect("the pinning thread panicked");
    }
}
