//! The loop-level error handler (asyncio's `set_exception_handler`): where
//! failures in user code that nobody else can observe are reported.

use std::fmt;
use std::rc::Rc;

use super::context;

/// What went wrong, handed to the loop's error handler.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ErrorContext {
    /// A sentence for a person, e.g. `Task exception was never retrieved`.
    pub message: String,
    /// The failed task's id, when a task failed.
    pub task_id: Option<u64>,
    /// The failed task's name, when a task failed.
    pub task_name: Option<String>,
    /// The error or panic message.
    pub error: String,
}

impl ErrorContext {
    pub(crate) fn task_failed(id: u64, name: String, error: String) -> Self {
        ErrorContext {
            message: "Task exception was never retrieved".into(),
            task_id: Some(id),
            task_name: Some(name),
            error,
        }
    }

    /// A failure outside any task, e.g. a panic in a protocol callback.
    pub(crate) fn other(message: impl Into<String>, error: impl Into<String>) -> Self {
        ErrorContext {
            message: message.into(),
            task_id: None,
            task_name: None,
            error: error.into(),
        }
    }
}

impl fmt::Display for ErrorContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.message)?;
        if let Some(name) = &self.task_name {
            write!(f, " (task {name})")?;
        }
        write!(f, ": {}", self.error)
    }
}

/// The handler type: called on the loop thread, once per failure.
pub(crate) type ErrorHandler = Rc<dyn Fn(&ErrorContext)>;

/// The default handler: one `tracing` error event.
pub(crate) fn default_handler() -> ErrorHandler {
    Rc::new(|ctx: &ErrorContext| {
        tracing::error!(
            task = ctx.task_name.as_deref().unwrap_or("-"),
            "{}: {}",
            ctx.message,
            ctx.error
        );
    })
}

/// Replaces the current loop's error handler.
///
/// # Panics
///
/// When called outside a running loop.
///
/// ```
/// use std::{cell::RefCell, rc::Rc};
/// aio::run(async {
///     let seen = Rc::new(RefCell::new(Vec::new()));
///     let s = seen.clone();
///     aio::set_error_handler(move |ctx| s.borrow_mut().push(ctx.error.clone()));
///     drop(aio::spawn(async { panic!("boom") }));
///     aio::sleep(std::time::Duration::from_millis(1)).await;
///     assert_eq!(*seen.borrow(), ["boom"]);
/// });
/// ```
pub fn set_error_handler(handler: impl Fn(&ErrorContext) + 'static) {
    context::current().set_error_handler(Rc::new(handler));
}

/// Reports through the current loop's handler, or `tracing` with no loop.
pub(crate) fn report(ctx: ErrorContext) {
    let handler = context::with_current(|core| core.error_handler());
    match handler {
        Some(h) => h(&ctx),
        None => default_handler()(&ctx),
    }
}

/// The text of a panic payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-string payload".to_owned()
    }
}
