//! Progress bars on long steps when stderr is a terminal; nothing otherwise (logs stay plain
//! for schedulers and CI).

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub fn bar(len: u64, message: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    if !std::io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    if let Ok(style) = ProgressStyle::with_template(
        "{msg:24} [{elapsed_precise}] {wide_bar} {percent:>3}% eta {eta}",
    ) {
        bar.set_style(style);
    }
    bar.set_message(message.to_string());
    bar
}
