//! Progress bars for transfers: one per file and one for the total, drawn on
//! stderr only when it is a terminal (and neither `--quiet` nor `--json`).

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

pub struct Progress {
    multi: MultiProgress,
    total: ProgressBar,
}

impl Progress {
    pub fn new(show: bool, total_bytes: u64, what: &str) -> Self {
        let target = if show {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let multi = MultiProgress::with_draw_target(target);
        let total = multi.add(ProgressBar::new(total_bytes));
        total.set_style(style(
            "{msg:>12} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
        ));
        total.set_message(what.to_owned());
        Self { multi, total }
    }

    /// A bar for one file, above the total.
    pub fn file(&self, name: &str, size: u64) -> FileBar {
        let bar = self
            .multi
            .insert_before(&self.total, ProgressBar::new(size));
        bar.set_style(style("{msg:>12.dim} [{bar:30}] {bytes}/{total_bytes}"));
        bar.set_message(name.to_owned());
        FileBar {
            file: bar,
            total: self.total.clone(),
        }
    }

    pub fn finish(&self) {
        self.total.finish_and_clear();
    }
}

/// One file's bar, moving the total with it.
#[derive(Clone)]
pub struct FileBar {
    file: ProgressBar,
    total: ProgressBar,
}

impl FileBar {
    /// `n` more bytes done.
    pub fn advance(&self, n: u64) {
        self.file.inc(n);
        self.total.inc(n);
    }

    /// Back to `pos` bytes done (bytes sent again after an interruption count
    /// once).
    pub fn rewind_to(&self, pos: u64) {
        let back = self.file.position().saturating_sub(pos);
        self.file.set_position(pos);
        self.total
            .set_position(self.total.position().saturating_sub(back));
    }

    pub fn finish(&self) {
        self.file.finish_and_clear();
    }
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}
