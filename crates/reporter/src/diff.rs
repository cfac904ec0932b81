//! What changed between two audits, read from their findings documents: findings new, fixed,
//! still failing, newly not assessed and newly muted, and keys added and removed. `kmsaudit
//! diff` prints it; a pack rendered against a baseline carries it as diff.json and diff.csv and
//! shows it at the top of report.html.

use std::collections::{BTreeMap, BTreeSet};

use kmsaudit_model::{FindingsDocument, ResourceType, Severity, Status};
use serde::Serialize;

use crate::csv_out::{status_cell, write, Row};

/// How one (rule, resource) outcome changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// An unmuted FAIL now that was not one before (absent, passing, not assessed or muted).
    New,
    /// An unmuted FAIL before, passing, not applicable or gone now.
    Fixed,
    /// An unmuted FAIL in both.
    StillFailing,
    /// NOT_ASSESSED now, not before: the audit lost sight of it.
    NewlyNotAssessed,
    /// Muted now, not before.
    NewlyMuted,
}

impl Change {
    /// `new`, `fixed`, `still_failing`, `newly_not_assessed`, `newly_muted`.
    pub fn as_str(self) -> &'static str {
        match self {
            Change::New => "new",
            Change::Fixed => "fixed",
            Change::StillFailing => "still_failing",
            Change::NewlyNotAssessed => "newly_not_assessed",
            Change::NewlyMuted => "newly_muted",
        }
    }
}

/// One changed outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub change: Change,
    pub rule_id: String,
    pub severity: Severity,
    pub resource: String,
    pub account_id: String,
    pub region: String,
    pub old_status: Option<String>,
    pub new_status: Option<String>,
    /// The newer message (the older one for a fixed finding).
    pub message: String,
}

/// The whole comparison.
#[derive(Debug, Serialize)]
pub struct Diff {
    pub old_scan_started_at: String,
    pub new_scan_started_at: String,
    pub counts: BTreeMap<&'static str, usize>,
    pub entries: Vec<Entry>,
    pub keys_added: Vec<String>,
    pub keys_removed: Vec<String>,
}

/// What one pack says of one (rule, resource).
struct Seen {
    status: Status,
    muted: bool,
    severity: Severity,
    message: String,
    account: String,
    region: String,
}

fn index(doc: &FindingsDocument<'_>) -> BTreeMap<(String, String), Seen> {
    let rule_severity: BTreeMap<&str, Severity> = doc
        .rules
        .iter()
        .map(|r| (r.id.as_str(), r.severity))
        .collect();
    doc.outcomes()
        .map(|o| {
            let (severity, message) = match o.group {
                Some(g) => (g.severity, g.message.to_string()),
                None => (
                    rule_severity
                        .get(o.rule_id)
                        .copied()
                        .unwrap_or(Severity::Info),
                    String::new(),
                ),
            };
            (
                (o.rule_id.to_string(), o.resource.id.to_string()),
                Seen {
                    status: o.status,
                    muted: o.muted,
                    severity,
                    message,
                    account: o.resource.account.to_string(),
                    region: o.resource.region.to_string(),
                },
            )
        })
        .collect()
}

fn failing(s: Option<&Seen>) -> bool {
    s.is_some_and(|s| s.status == Status::Fail && !s.muted)
}

/// Compares two findings documents.
pub fn diff(old: &FindingsDocument<'_>, new: &FindingsDocument<'_>) -> Diff {
    let (before, after) = (index(old), index(new));
    let keys: BTreeSet<&(String, String)> = before.keys().chain(after.keys()).collect();
    let mut entries = Vec::new();
    for key in keys {
        let (b, a) = (before.get(key), after.get(key));
        let change = if failing(a) && failing(b) {
            Some(Change::StillFailing)
        } else if failing(a) {
            Some(Change::New)
        } else if failing(b)
            && a.is_none_or(|a| {
                matches!(a.status, Status::Pass | Status::NotApplicable) && !a.muted
            })
        {
            Some(Change::Fixed)
        } else if a.is_some_and(|a| a.muted) && !b.is_some_and(|b| b.muted) {
            Some(Change::NewlyMuted)
        } else if a.is_some_and(|a| a.status == Status::NotAssessed && !a.muted)
            && b.is_none_or(|b| b.status != Status::NotAssessed)
        {
            Some(Change::NewlyNotAssessed)
        } else {
            None
        };
        let Some(change) = change else { continue };
        let shown = if change == Change::Fixed { b } else { a.or(b) };
        let shown = shown.expect("one side holds the outcome");
        entries.push(Entry {
            change,
            rule_id: key.0.clone(),
            severity: shown.severity,
            resource: key.1.clone(),
            account_id: shown.account.clone(),
            region: shown.region.clone(),
            old_status: b.map(|s| status_cell(s.status, s.muted)),
            new_status: a.map(|s| status_cell(s.status, s.muted)),
            message: shown.message.clone(),
        });
    }
    entries.sort_by(|x, y| {
        (
            x.change,
            std::cmp::Reverse(x.severity),
            &x.rule_id,
            &x.resource,
        )
            .cmp(&(
                y.change,
                std::cmp::Reverse(y.severity),
                &y.rule_id,
                &y.resource,
            ))
    });
    let key_ids = |doc: &FindingsDocument<'_>| -> BTreeSet<String> {
        doc.resources
            .iter()
            .filter(|r| r.resource_type == ResourceType::Key)
            .map(|r| r.id.to_string())
            .collect()
    };
    let (old_keys, new_keys) = (key_ids(old), key_ids(new));
    let mut counts: BTreeMap<&'static str, usize> = [
        Change::New,
        Change::Fixed,
        Change::StillFailing,
        Change::NewlyNotAssessed,
        Change::NewlyMuted,
    ]
    .into_iter()
    .map(|c| (c.as_str(), 0))
    .collect();
    for e in &entries {
        *counts.entry(e.change.as_str()).or_default() += 1;
    }
    let keys_added: Vec<String> = new_keys.difference(&old_keys).cloned().collect();
    let keys_removed: Vec<String> = old_keys.difference(&new_keys).cloned().collect();
    counts.insert("keys_added", keys_added.len());
    counts.insert("keys_removed", keys_removed.len());
    Diff {
        old_scan_started_at: old.scan_started_at.to_string(),
        new_scan_started_at: new.scan_started_at.to_string(),
        counts,
        entries,
        keys_added,
        keys_removed,
    }
}

/// diff.csv: one row per changed outcome, then one per key added or removed, written as the
/// pack's other CSV files are (BOM, CRLF, text cells neutralised).
pub fn diff_csv(diff: &Diff) -> std::io::Result<Vec<u8>> {
    let header = [
        "change",
        "rule_id",
        "severity",
        "account_id",
        "region",
        "resource",
        "old_status",
        "new_status",
        "message",
    ];
    let changed = diff.entries.iter().map(|e| {
        Row::default()
            .text(e.change.as_str())
            .text(&e.rule_id)
            .text(e.severity.as_str())
            .text(&e.account_id)
            .text(&e.region)
            .text(&e.resource)
            .text(e.old_status.as_deref().unwrap_or(""))
            .text(e.new_status.as_deref().unwrap_or(""))
            .text(&e.message)
    });
    let keys = [
        ("key_added", &diff.keys_added),
        ("key_removed", &diff.keys_removed),
    ]
    .into_iter()
    .flat_map(|(change, keys)| {
        keys.iter().map(move |k| {
            Row::default()
                .text(change)
                .text("")
                .text("")
                .text(kmsaudit_model::arn_account(k).unwrap_or(""))
                .text(k.split(':').nth(3).unwrap_or(""))
                .text(k)
                .text("")
                .text("")
                .text("")
        })
    });
    let mut out = Vec::new();
    write(&mut out, &header, changed.chain(keys))?;
    Ok(out)
}
