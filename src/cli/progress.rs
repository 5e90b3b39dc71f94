//! Progress on standard error for `run` and `compare`: drawn only when
//! stderr is a terminal and the work has taken longer than a moment, so
//! short runs, pipes and CI logs stay silent.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::Duration;

/// How long work runs before its bar appears.
const DELAY: Duration = Duration::from_millis(700);

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
        std::thread::spawn(move || {
            std::thread::sleep(DELAY);
            if !b.is_finished() {
                b.set_draw_target(ProgressDrawTarget::stderr());
                b.enable_steady_tick(Duration::from_millis(120));
            }
        });
    }
    bar
}
