//! `TaskGroup`: structured concurrency (asyncio's `TaskGroup`). Children
//! run as tasks; the first one to fail cancels the others, and `join`
//! returns that first error once every child has finished.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::rc::Rc;

use super::task::{spawn, Task, TaskError, TaskRef};

/// Why a [`TaskGroup`] failed: the first child failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GroupError<E> {
    /// A child returned `Err`.
    #[error("a task of the group failed: {0}")]
    Failed(E),
    /// A child panicked.
    #[error("a task of the group panicked: {0}")]
    Panicked(String),
    /// A child was cancelled from outside the group, so its value is missing.
    #[error("a task of the group was cancelled")]
    Cancelled,
}

impl<E> GroupError<E> {
    fn from_outcome<T>(outcome: Result<Result<T, E>, TaskError>) -> Option<Self> {
        match outcome {
            Ok(Ok(_)) => None,
            Ok(Err(e)) => Some(GroupError::Failed(e)),
            Err(TaskError::Panicked(msg)) => Some(GroupError::Panicked(msg)),
            Err(TaskError::Cancelled) => Some(GroupError::Cancelled),
        }
    }
}

struct GroupState {
    /// Every child, to cancel the rest on the first failure.
    children: Vec<TaskRef>,
    /// Index of the first child that failed.
    first_failure: Option<usize>,
}

impl GroupState {
    fn fail(&mut self, index: usize) {
        if self.first_failure.is_some() {
            return;
        }
        self.first_failure = Some(index);
        for (i, child) in self.children.iter().enumerate() {
            if i != index {
                child.cancel();
            }
        }
    }
}

/// Marks its child as failed if dropped before the child completed and
/// without a cancellation request: that is a panic.
struct FailureGuard {
    state: Rc<RefCell<GroupState>>,
    index: usize,
    completed: bool,
}

impl Drop for FailureGuard {
    fn drop(&mut self) {
        if self.completed {
            return;
        }
        let Ok(mut state) = self.state.try_borrow_mut() else {
            return;
        };
        let cancelled = state
            .children
            .get(self.index)
            .is_some_and(TaskRef::is_cancel_requested);
        if !cancelled {
            state.fail(self.index);
        }
    }
}

/// A group of tasks that succeed or fail together.
///
/// Children return `Result<T, E>`. When one returns `Err` or panics, the
/// others are cancelled at once; [`join`](TaskGroup::join) waits for all
/// of them and returns the first failure, or every value in spawn order.
///
/// So the group keeps every child, and every value, until `join`: it is
/// for a piece of work split into tasks, not for a server's connections,
/// which come and go for as long as it runs (spawn those with
/// [`spawn`](crate::spawn) and drop the handle).
///
/// ```
/// aio::run(async {
///     let group = aio::TaskGroup::new();
///     group.spawn(async { Ok::<_, String>(1) });
///     group.spawn(async { Ok(2) });
///     assert_eq!(group.join().await, Ok(vec![1, 2]));
///
///     let group = aio::TaskGroup::new();
///     group.spawn(async { Err::<(), _>("no".to_string()) });
///     group.spawn(async {
///         aio::sleep(std::time::Duration::from_secs(60)).await; // cancelled
///         Ok(())
///     });
///     assert_eq!(group.join().await, Err(aio::GroupError::Failed("no".to_string())));
/// });
/// ```
pub struct TaskGroup<T, E> {
    state: Rc<RefCell<GroupState>>,
    tasks: RefCell<Vec<Task<Result<T, E>>>>,
}

impl<T: 'static, E: 'static> TaskGroup<T, E> {
    /// An empty group.
    pub fn new() -> Self {
        TaskGroup {
            state: Rc::new(RefCell::new(GroupState {
                children: Vec::new(),
                first_failure: None,
            })),
            tasks: RefCell::new(Vec::new()),
        }
    }

    /// Starts a child. If the group already failed, the child is cancelled
    /// before it runs.
    ///
    /// # Panics
    ///
    /// When called outside a running loop.
    pub fn spawn<F>(&self, future: F) -> TaskRef
    where
        F: Future<Output = Result<T, E>> + 'static,
    {
        let index = self.tasks.borrow().len();
        let guard = FailureGuard {
            state: self.state.clone(),
            index,
            completed: false,
        };
        let state = self.state.clone();
        let task = spawn(async move {
            // Bind the whole guard: naming only `guard.completed` would make
            // the block capture a copy of that field and leave the guard out.
            let mut guard = guard;
            let result = future.await;
            guard.completed = true;
            if result.is_err() {
                state.borrow_mut().fail(index);
            }
            result
        });
        let task_ref = task.task_ref();
        let mut state = self.state.borrow_mut();
        state.children.push(task_ref.clone());
        if state.first_failure.is_some() {
            task_ref.cancel();
        }
        self.tasks.borrow_mut().push(task);
        task_ref
    }

    /// Cancels every child still running.
    pub fn cancel(&self) {
        for child in &self.state.borrow().children {
            child.cancel();
        }
    }

    /// Waits for every child; returns their values in spawn order, or the
    /// first failure.
    ///
    /// # Cancel safety
    ///
    /// Dropping the `join` future cancels every child, as leaving an
    /// `async with TaskGroup()` block by cancellation does.
    pub fn join(self) -> impl Future<Output = Result<Vec<T>, GroupError<E>>> {
        // The guard is armed here, before the first poll: as an `async fn`
        // it was created only when the body started, so dropping a `join`
        // that was never polled detached the children instead of
        // cancelling them.
        let cancel_all = CancelOnDrop {
            state: self.state.clone(),
            armed: true,
        };
        async move {
            let mut cancel_all = cancel_all;
            let tasks = std::mem::take(&mut *self.tasks.borrow_mut());
            let mut outcomes = Vec::with_capacity(tasks.len());
            for task in tasks {
                outcomes.push(task.await);
            }
            cancel_all.armed = false;
            let first = self.state.borrow().first_failure;
            if let Some(index) = first {
                let outcome = outcomes.into_iter().nth(index);
                return Err(outcome
                    .and_then(GroupError::from_outcome)
                    .unwrap_or(GroupError::Cancelled));
            }
            let mut values = Vec::with_capacity(outcomes.len());
            for outcome in outcomes {
                match outcome {
                    Ok(Ok(v)) => values.push(v),
                    other => {
                        if let Some(e) = GroupError::from_outcome(other) {
                            return Err(e);
                        }
                    }
                }
            }
            Ok(values)
        }
    }
}

/// Cancels the group's children if `join` is dropped before it finishes.
struct CancelOnDrop {
    state: Rc<RefCell<GroupState>>,
    armed: bool,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Ok(state) = self.state.try_borrow() {
            for child in &state.children {
                child.cancel();
            }
        }
    }
}

impl<T: 'static, E: 'static> Default for TaskGroup<T, E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T, E> fmt::Debug for TaskGroup<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskGroup")
            .field("children", &self.state.borrow().children.len())
            .finish()
    }
}
