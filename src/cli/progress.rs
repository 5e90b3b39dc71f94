//! Progress on standard error for `run` and `compare`: drawn only when
//! stderr is a terminal and the work has taken longer than a moment, so
//! short runs, pipes and CI logs stay silent.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::Duration;

/// How long work runs before its bar appears.
const DELAY: Duration = Duration::from_millis(700);

/// `DELAY`, or `TILESIM_PROGRESS_DELAY_MS` milliseconds when that is set (a
/// test sets 0 to see the bar without depending on how fast a run is).
fn delay() -> Duration {
    std::env::var("TILESIM_PROGRESS_DELAY_MS").ok().and_then(|v| v.parse().ok()).map_or(DELAY, Duration::from_millis)
}

/// A bar of `len` steps (a spinner when `None`) with `template`, hidden
/// until `DELAY` has passed and only when stderr is a terminal. Finish it
/// with `finish_and_clear`.
pub fn delayed(len: Option<u64>, template: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(len, ProgressDrawTarget::hidden());
    let style = match len {
        Some(_) => ProgressStyle::with_template(template).expect("a valid template").progress_chars("=> "),
        None => ProgressStyle::with_template(template).expect("a valid template"),
    };
    bar.set_style(style);
    if std::io::stderr().is_terminal() {
        let b = bar.clone();
        let delay = delay();
        std::thread::spawn(move || {
            std::thread::sleep(delay);
            if !b.is_finished() {
                b.set_draw_target(ProgressDrawTarget::stderr());
                b.enable_steady_tick(Duration::from_millis(120));
            }
        });
    }
    bar
}
