//! `Builder::pin_workers`: every worker's loop runs on one CPU, the workers
//! go round the CPUs the process may use, and the calling thread (worker 0)
//! gets its own mask back afterwards.

use rustix::thread::{sched_getaffinity, sched_getcpu, CpuSet};

/// The CPUs the calling thread may run on.
fn allowed() -> Vec<usize> {
    let set = sched_getaffinity(None).expect("sched_getaffinity");
    (0..CpuSet::MAX_CPU)
        .filter(|&cpu| set.is_set(cpu))
        .collect()
}

#[test]
fn each_worker_runs_on_its_own_cpu_and_the_caller_gets_its_mask_back() {
    let before = allowed();
    // One more worker than CPUs, so the last one wraps round to the first CPU.
    let workers = before.len() + 1;
    let rt = aio::Runtime::builder()
        .workers(workers)
        .pin_workers(true)
        .build()
        .expect("build");
    let seen = rt.run_workers(|_| async { (allowed(), sched_getcpu()) });
    assert_eq!(seen.len(), workers);
    for (i, outcome) in seen.into_iter().enumerate() {
        let (mask, cpu) = outcome.expect("the worker ran");
        let want = before[i % before.len()];
        assert_eq!(mask, [want], "worker {i}'s mask");
        assert_eq!(cpu, want, "worker {i} runs elsewhere");
    }
    assert_eq!(allowed(), before, "the calling thread kept worker 0's pin");
}

#[test]
fn unpinned_workers_keep_the_process_mask() {
    let before = allowed();
    let rt = aio::Runtime::builder().workers(2).build().expect("build");
    for outcome in rt.run_workers(|_| async { allowed() }) {
        assert_eq!(outcome.expect("the worker ran"), before);
    }
}
