//! Progress on stderr while a scan runs (hidden when stderr is not a terminal or with --quiet).

use std::sync::Arc;
use std::time::Duration;

use kmsaudit_scanner::{Progress, ProgressFn};

pub(crate) struct ProgressReporter {
    bar: indicatif::ProgressBar,
}

impl ProgressReporter {
    pub fn new(quiet: bool) -> ProgressReporter {
        let bar = if quiet {
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
        ProgressReporter { bar }
    }

    pub fn callback(&self) -> ProgressFn {
        let bar = self.bar.clone();
        Arc::new(move |event| match event {
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
        })
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
