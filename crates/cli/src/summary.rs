//! What a pack run ends with: its exit code and the summary it prints.

use std::path::Path;

use kmsaudit_model::{Evaluation, Severity, Snapshot, Status};

use crate::{exit, FailOn};

/// 3 when failing findings at/above the threshold exist, else 4 when anything could not be
/// assessed, else 0.
pub(crate) fn exit_code(evaluation: &Evaluation, fail_on: FailOn) -> u8 {
    let failing = fail_on.0.is_some_and(|min| {
        evaluation
            .findings
            .iter()
            .any(|f| f.status == Status::Fail && !f.muted && f.severity >= min)
    });
    if failing {
        exit::FAILING
    } else if evaluation.is_incomplete() {
        exit::INCOMPLETE
    } else {
        exit::OK
    }
}

pub(crate) fn print_summary(
    snapshot: &Snapshot,
    evaluation: &Evaluation,
    out: &Path,
    from_scan: bool,
) {
    let s = &evaluation.scope;
    out!(
        "accounts: {} ({} assessed, {} partial, {} not assessed, {} skipped)",
        s.accounts,
        s.accounts_assessed,
        s.accounts_partial,
        s.accounts_not_assessed,
        s.accounts_skipped
    );
    out!(
        "account-regions: {} read, {} not assessed, {} skipped; keys: {} ({} not fully read)",
        s.counts.regions_scanned,
        s.counts.regions_not_assessed,
        s.counts.regions_skipped,
        s.counts.keys_discovered,
        s.counts.keys_not_assessed
    );
    let failing = evaluation.failing_by_severity();
    let sev: Vec<String> = Severity::ALL
        .iter()
        .map(|s| format!("{} {}", failing.get(s).copied().unwrap_or(0), s))
        .collect();
    let counts = evaluation.counts();
    out!(
        "failing findings: {}; not assessed: {}; muted: {}",
        sev.join(", "),
        counts.not_assessed,
        counts.muted
    );
    if from_scan {
        let m = &snapshot.metadata;
        let secs = m.finished_at.duration_since(m.started_at).as_secs_f64();
        out!("API calls: {} in {secs:.1} s", m.total_api_calls());
    }
    out!("report: {}", out.join("report.html").display());
}
