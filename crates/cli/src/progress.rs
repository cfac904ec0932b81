//! Progress on stderr while a scan runs: a bar on a terminal; elsewhere (cron, CI logs) one line
//! at most every `KMSAUDIT_PROGRESS_INTERVAL` seconds (default 10) and one at the end, so a log
//! shows the scan advancing. Nothing with --quiet.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kmsaudit_scanner::{Progress, ProgressFn};

pub(crate) struct ProgressReporter {
    bar: indicatif::ProgressBar,
    lines: Option<Arc<Lines>>,
}

/// The periodic one-line form.
struct Lines {
    every: Duration,
    started: Instant,
    state: Mutex<LineState>,
}

#[derive(Default)]
struct LineState {
    total: usize,
    accounts_done: usize,
    not_assessed: usize,
    regions_done: usize,
    keys: usize,
    last: Option<Instant>,
}

impl Lines {
    fn line(&self, s: &LineState) -> String {
        format!(
            "kmsaudit: progress: accounts {}/{} ({} not assessed), account-regions {}, keys {}, {:.0} s",
            s.accounts_done,
            s.total,
            s.not_assessed,
            s.regions_done,
            s.keys,
            self.started.elapsed().as_secs_f64()
        )
    }

    fn on(&self, event: &Progress) {
        let mut s = self.state.lock().expect("progress lock");
        match event {
            Progress::AccountsListed { total } => s.total = *total,
            Progress::AccountStarted { .. } => {}
            Progress::RegionDone { keys, .. } => {
                s.regions_done += 1;
                s.keys += keys;
            }
            Progress::AccountDone { assessed, .. } => {
                s.accounts_done += 1;
                if !assessed {
                    s.not_assessed += 1;
                }
            }
        }
        let due = s.last.is_none_or(|t| t.elapsed() >= self.every);
        if due {
            s.last = Some(Instant::now());
            eprintln!("{}", self.line(&s));
        }
    }
}

impl ProgressReporter {
    pub fn new(quiet: bool) -> ProgressReporter {
        let terminal = std::io::stderr().is_terminal();
        let bar = if quiet || !terminal {
            indicatif::ProgressBar::hidden()
        } else {
            indicatif::ProgressBar::new(0)
        };
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} accounts {pos}/{len} [{elapsed}] {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        let lines = (!quiet && !terminal).then(|| {
            let every = std::env::var("KMSAUDIT_PROGRESS_INTERVAL")
                .ok()
                .and_then(|v| v.parse::<f64>().ok())
                .filter(|v| *v >= 0.0)
                .map(Duration::from_secs_f64)
                .unwrap_or(Duration::from_secs(10));
            Arc::new(Lines {
                every,
                started: Instant::now(),
                state: Mutex::new(LineState::default()),
            })
        });
        ProgressReporter { bar, lines }
    }

    pub fn callback(&self) -> ProgressFn {
        let bar = self.bar.clone();
        let lines = self.lines.clone();
        Arc::new(move |event| {
            if let Some(lines) = &lines {
                lines.on(&event);
            }
            match event {
                Progress::AccountsListed { total } => bar.set_length(total as u64),
                Progress::AccountStarted { account_id } => {
                    bar.set_message(format!("scanning {account_id}"))
                }
                Progress::RegionDone { .. } => bar.tick(),
                Progress::AccountDone {
                    account_id,
                    keys,
                    assessed,
                } => {
                    bar.inc(1);
                    if !assessed {
                        bar.println(format!("account {account_id}: not assessed (see report)"));
                    } else {
                        bar.set_message(format!("{account_id}: {keys} keys"));
                    }
                }
            }
        })
    }

    /// Ends the progress display; the last line says whether the scan completed.
    pub fn finish(&self, completed: bool) {
        self.bar.finish_and_clear();
        if let Some(lines) = &self.lines {
            let s = lines.state.lock().expect("progress lock");
            let end = if completed { "done" } else { "stopped" };
            eprintln!("{} ({end})", lines.line(&s));
        }
    }
}
