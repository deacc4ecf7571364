//! Progress of long command-line work (`seed`, `rebuild`, `package`): the work reports steps
//! to a [`Progress`]; [`Reporter`] draws them on stderr — a bar (`indicatif`) when stderr is a
//! terminal, plain lines at every tenth of the work otherwise (logs and CI), so a pipe never
//! fills with redraws. [`Silent`] is for callers that want nothing shown.

use std::io::{IsTerminal as _, Write as _};
use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Steps between plain lines when the total is unknown.
const LINE_EVERY_UNKNOWN: u64 = 1000;

/// Where long work reports how far it is.
pub trait Progress: Send + Sync {
    /// Starts a phase named `label` of `total` steps (`None`: not known in advance).
    fn begin(&self, label: &str, total: Option<u64>);
    /// `steps` more steps are done.
    fn advance(&self, steps: u64);
    /// The phase is over.
    fn finish(&self);
}

/// Shows nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Progress for Silent {
    fn begin(&self, _label: &str, _total: Option<u64>) {}
    fn advance(&self, _steps: u64) {}
    fn finish(&self) {}
}

/// Progress on stderr: a bar on a terminal, lines elsewhere.
pub struct Reporter {
    terminal: bool,
    state: Mutex<Phase>,
}

#[derive(Default)]
struct Phase {
    label: String,
    total: Option<u64>,
    done: u64,
    /// The step count at which the next plain line is due.
    next_line: u64,
    bar: Option<ProgressBar>,
}

impl Reporter {
    /// A bar when stderr is a terminal, plain lines otherwise.
    pub fn stderr() -> Self {
        Self::new(std::io::stderr().is_terminal())
    }

    /// `terminal: false` always writes plain lines.
    pub fn new(terminal: bool) -> Self {
        Self {
            terminal,
            state: Mutex::new(Phase::default()),
        }
    }

    fn phase(&self) -> std::sync::MutexGuard<'_, Phase> {
        // A panic while drawing leaves nothing half-updated that matters.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Progress for Reporter {
    fn begin(&self, label: &str, total: Option<u64>) {
        let mut phase = self.phase();
        if let Some(bar) = phase.bar.take() {
            bar.finish_and_clear();
        }
        *phase = Phase {
            label: label.to_owned(),
            total,
            done: 0,
            next_line: first_line(total),
            bar: None,
        };
        if self.terminal {
            let bar = match total {
                Some(total) => {
                    ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr())
                        .with_style(
                            ProgressStyle::with_template(
                                "{msg} [{bar:30}] {pos}/{len} ({elapsed})",
                            )
                            .unwrap_or_else(|_| ProgressStyle::default_bar())
                            .progress_chars("=> "),
                        )
                }
                None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
            };
            bar.set_message(label.to_owned());
            phase.bar = Some(bar);
        }
    }

    fn advance(&self, steps: u64) {
        let mut phase = self.phase();
        phase.done += steps;
        if let Some(bar) = &phase.bar {
            bar.inc(steps);
            return;
        }
        if phase.done >= phase.next_line {
            line(&phase);
            phase.next_line = next_line(phase.total, phase.done);
        }
    }

    fn finish(&self) {
        let mut phase = self.phase();
        if let Some(bar) = phase.bar.take() {
            bar.finish_and_clear();
        }
        if !self.terminal || phase.total.is_none() {
            let _ = writeln!(
                std::io::stderr(),
                "{}: done ({} steps)",
                phase.label,
                phase.done
            );
        }
    }
}

/// Where the first plain line is due: a tenth of the way, or every
/// [`LINE_EVERY_UNKNOWN`] steps.
fn first_line(total: Option<u64>) -> u64 {
    next_line(total, 0)
}

/// The next step count, after `done`, that crosses a tenth of `total`.
fn next_line(total: Option<u64>, done: u64) -> u64 {
    match total {
        Some(total) if total > 0 => {
            let tenth = total.div_ceil(10);
            (done / tenth + 1) * tenth
        }
        Some(_) => u64::MAX,
        None => (done / LINE_EVERY_UNKNOWN + 1) * LINE_EVERY_UNKNOWN,
    }
}

fn line(phase: &Phase) {
    let text = match phase.total {
        Some(total) => format!(
            "{}: {}/{} ({}%)",
            phase.label,
            phase.done,
            total,
            phase.done.min(total) * 100 / total.max(1)
        ),
        None => format!("{}: {}", phase.label, phase.done),
    };
    let _ = writeln!(std::io::stderr(), "{text}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_fall_on_every_tenth() {
        let mut at = Vec::new();
        let mut next = first_line(Some(25));
        for done in 1..=25 {
            if done >= next {
                at.push(done);
                next = next_line(Some(25), done);
            }
        }
        assert_eq!(at, vec![3, 6, 9, 12, 15, 18, 21, 24]);
        assert_eq!(first_line(Some(0)), u64::MAX);
        assert_eq!(next_line(None, 1500), 2000);
    }
}
