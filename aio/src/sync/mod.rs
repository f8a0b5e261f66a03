//! Single-loop synchronisation: [`Event`] (asyncio's `Event`) and a
//! [`oneshot`] channel (the Rust form of an `asyncio.Future` that one side
//! completes and the other awaits). Neither is `Send`: they connect tasks
//! and protocol callbacks of one loop, without locks.

mod event;
pub mod oneshot;
mod wait_list;

pub use event::Event;
pub(crate) use wait_list::{wake_all, WaitList};
