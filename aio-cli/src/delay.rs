//! `aio delay`: the seed's delay terminal. Each number N typed starts a
//! task that reports `Starting delay N`, sleeps N seconds on the loop, and
//! reports `Finished delay N`, while more numbers are typed.
//!
//! The seed calls `int(line)` and crashes on anything else; here anything
//! that is not a finite number of seconds from 0 to a day gets
//! `Not a number: TEXT`. `Starting delay` is reported when the line is
//! read, not when the task first runs, so the messages of what was typed
//! keep the order it was typed in.

use std::io;
use std::process::ExitCode;
use std::time::Duration;

use crate::cli::DelayArgs;
use crate::terminal::{self, Input, Messages, Settings};

/// The longest delay accepted, in seconds: a day.
const MAX_DELAY: f64 = 86_400.0;

/// The screen's look.
const SETTINGS: Settings = Settings {
    prompt: "> ",
    tab_as_space: false,
};

/// Runs `aio delay` and returns the exit status.
pub(crate) fn run(_args: DelayArgs) -> ExitCode {
    match aio::run(session()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("aio delay: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The terminal (or plain lines), a delay task per number.
async fn session() -> io::Result<()> {
    let notes = vec!["Type a number of seconds and Enter; Ctrl-D leaves".to_owned()];
    terminal::run(SETTINGS, notes, |input, messages| {
        let text = match input {
            Input::Line(text) => text,
            Input::TooLong => {
                messages.append("Not a number: (a line over 64 KiB)".to_owned());
                return None;
            }
        };
        let Some(seconds) = parse_delay(text) else {
            messages.append(format!("Not a number: {text}"));
            return None;
        };
        messages.append(format!("Starting delay {text}"));
        Some(aio::spawn(finish_delay(
            text.to_owned(),
            seconds,
            messages.clone(),
        )))
    })
    .await
}

/// The second half of the seed's `sleep(delay, message_store)`.
async fn finish_delay(text: String, seconds: Duration, messages: Messages) {
    aio::sleep(seconds).await;
    messages.append(format!("Finished delay {text}"));
}

/// `text` as a delay: a finite number of seconds from 0 to [`MAX_DELAY`].
fn parse_delay(text: &str) -> Option<Duration> {
    let seconds: f64 = text.parse().ok()?;
    // Also false for NaN; infinities are past the end.
    if !(0.0..=MAX_DELAY).contains(&seconds) {
        return None;
    }
    // `abs` turns -0 into 0, which `Duration` would refuse.
    Duration::try_from_secs_f64(seconds.abs()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_of_seconds_up_to_a_day_are_delays() {
        assert_eq!(parse_delay("0"), Some(Duration::ZERO));
        assert_eq!(parse_delay("-0"), Some(Duration::ZERO));
        assert_eq!(parse_delay("1.5"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_delay("2e-3"), Some(Duration::from_millis(2)));
        assert_eq!(parse_delay("86400"), Some(Duration::from_secs(86_400)));
        for bad in [
            "", "abc", "-1", "86400.5", "1e9", "inf", "-inf", "NaN", "1_0", "0x10",
        ] {
            assert_eq!(parse_delay(bad), None, "{bad:?}");
        }
    }
}
