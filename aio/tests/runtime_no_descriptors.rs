//! A loop the OS refuses (no file descriptor left for its epoll instance)
//! is an error from `Runtime::try_block_on`, not a panic, and the process
//! can make loops again once descriptors are free.
//!
//! Alone in its test binary: it lowers the process's descriptor limit and
//! fills it, which would break any test running beside it.

use std::fs::File;
use std::io;

use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};

#[test]
fn a_loop_without_descriptors_is_an_error_then_works_once_they_are_free() {
    let old = getrlimit(Resource::Nofile);
    let low = Rlimit {
        current: Some(64),
        maximum: old.maximum,
    };
    setrlimit(Resource::Nofile, low).expect("lower RLIMIT_NOFILE");
    let mut held = Vec::new();
    let filled = loop {
        match File::open("/dev/null") {
            Ok(f) => held.push(f),
            Err(e) => break e,
        }
    };
    assert_eq!(filled.raw_os_error(), Some(libc_emfile()), "{filled}");

    let rt = aio::Runtime::new().expect("a runtime is only settings");
    let refused = rt.try_block_on(async { 1 }).unwrap_err();
    assert!(
        refused
            .to_string()
            .starts_with("cannot create the event loop: "),
        "{refused}"
    );
    assert_eq!(
        io::Error::from_raw_os_error(libc_emfile()).kind(),
        refused.kind()
    );

    drop(held);
    setrlimit(Resource::Nofile, old).expect("restore RLIMIT_NOFILE");
    assert_eq!(rt.try_block_on(async { 2 }).unwrap(), 2);
}

/// `EMFILE` on Linux.
fn libc_emfile() -> i32 {
    24
}
