//! What changed between two audits, read from their findings documents: findings new, fixed,
//! still failing, newly not assessed and newly muted, and keys added and removed. `kmsaudit
//! diff` prints it; a pack rendered against a baseline carries it as diff.json and diff.csv and
//! shows it at the top of report.html.

use std::collections::{BTreeMap, BTreeSet};

use rustc_hash::FxHashMap;

use kmsaudit_model::{AccessVerdict, FindingsDocument, ResourceType, Severity, Status};
use serde::Serialize;

use crate::csv_out::{status_cell, write, Row};
use crate::diff_access::access_changes;
pub use crate::diff_access::AccessChange;

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
    /// Access gained and lost on keys both audits hold; empty unless both read IAM.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub access: Vec<AccessChange>,
    /// Keys that became unused or were used again (KMS-KEY-UNUSED turned), with their last
    /// use before and now; empty unless both read last use.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub usage: Vec<UsageChange>,
}

/// A key that became unused, or was used again, between two audits.
#[derive(Debug, Clone, Serialize)]
pub struct UsageChange {
    /// `key_became_unused` or `key_used_again`.
    pub change: &'static str,
    pub key_arn: String,
    /// The last use each audit read, in words.
    pub old_last_use: String,
    pub new_last_use: String,
}

/// Keys whose KMS-KEY-UNUSED verdict turned between FAIL and PASS.
fn usage_changes(
    old: &FindingsDocument<'_>,
    new: &FindingsDocument<'_>,
    entries: &[Entry],
) -> Vec<UsageChange> {
    let described = |doc: &FindingsDocument<'_>, arn: &str| -> String {
        doc.last_use
            .binary_search_by(|u| u.key.as_ref().cmp(arn))
            .ok()
            .map(|i| doc.last_use[i].last_use.state.describe())
            .unwrap_or_default()
    };
    entries
        .iter()
        .filter(|e| e.rule_id == "KMS-KEY-UNUSED")
        .filter_map(|e| {
            let change = match (e.change, e.old_status.as_deref(), e.new_status.as_deref()) {
                (Change::New, Some("PASS"), _) => "key_became_unused",
                (Change::Fixed, _, Some("PASS")) => "key_used_again",
                _ => return None,
            };
            Some(UsageChange {
                change,
                key_arn: e.resource.clone(),
                old_last_use: described(old, &e.resource),
                new_last_use: described(new, &e.resource),
            })
        })
        .collect()
}

/// What one pack says of one (rule, resource), borrowed from its document.
struct Seen<'d> {
    status: Status,
    muted: bool,
    severity: Severity,
    message: &'d str,
    account: &'d str,
    region: &'d str,
}

/// Every outcome of a document by (rule id, resource id), borrowed: millions at organization
/// scale, so no text is copied.
fn index<'d>(doc: &'d FindingsDocument<'_>) -> FxHashMap<(&'d str, &'d str), Seen<'d>> {
    let rule_severity: FxHashMap<&str, Severity> = doc
        .rules
        .iter()
        .map(|r| (r.id.as_str(), r.severity))
        .collect();
    doc.outcomes()
        .map(|o| {
            let (severity, message) = match o.group {
                Some(g) => (g.severity, g.message.as_ref()),
                None => (
                    rule_severity
                        .get(o.rule_id)
                        .copied()
                        .unwrap_or(Severity::Info),
                    "",
                ),
            };
            (
                (o.rule_id, o.resource.id.as_ref()),
                Seen {
                    status: o.status,
                    muted: o.muted,
                    severity,
                    message,
                    account: o.resource.account.as_ref(),
                    region: o.resource.region.as_ref(),
                },
            )
        })
        .collect()
}

fn failing(s: Option<&Seen<'_>>) -> bool {
    s.is_some_and(|s| s.status == Status::Fail && !s.muted)
}

/// Compares two findings documents.
pub fn diff(old: &FindingsDocument<'_>, new: &FindingsDocument<'_>) -> Diff {
    let (before, after) = (index(old), index(new));
    // Every (rule, resource) of either document once: the old ones, then the new only.
    let keys = (before.keys()).chain(after.keys().filter(|k| !before.contains_key(*k)));
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
            rule_id: key.0.to_string(),
            severity: shown.severity,
            resource: key.1.to_string(),
            account_id: shown.account.to_string(),
            region: shown.region.to_string(),
            old_status: b.map(|s| status_cell(s.status, s.muted)),
            new_status: a.map(|s| status_cell(s.status, s.muted)),
            message: shown.message.to_string(),
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
    let kept: BTreeSet<String> = old_keys.intersection(&new_keys).cloned().collect();
    let access = access_changes(old, new, &kept);
    if old.access.is_some() && new.access.is_some() {
        for change in ["access_gained", "access_lost"] {
            counts.insert(change, access.iter().filter(|a| a.change == change).count());
        }
    }
    let usage = usage_changes(old, new, &entries);
    if !old.last_use.is_empty() && !new.last_use.is_empty() {
        for change in ["key_became_unused", "key_used_again"] {
            counts.insert(change, usage.iter().filter(|u| u.change == change).count());
        }
    }
    Diff {
        old_scan_started_at: old.scan_started_at.to_string(),
        new_scan_started_at: new.scan_started_at.to_string(),
        counts,
        entries,
        keys_added,
        keys_removed,
        access,
        usage,
    }
}

/// A diff.csv row about a key: its account and region read from the ARN, no severity, then
/// the old status, new status and message cells.
fn key_row(change: &str, rule_id: &str, key_arn: &str, [old, new, message]: [&str; 3]) -> Row {
    Row::default()
        .text(change)
        .text(rule_id)
        .text("")
        .text(kmsaudit_model::arn_account(key_arn).unwrap_or(""))
        .text(key_arn.split(':').nth(3).unwrap_or(""))
        .text(key_arn)
        .text(old)
        .text(new)
        .text(message)
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
        keys.iter()
            .map(move |k| key_row(change, "", k, ["", "", ""]))
    });
    let access = diff.access.iter().map(|a| {
        let verdict = |v: Option<AccessVerdict>| v.map_or("", AccessVerdict::as_str);
        let path = format!("{} {} via {}", a.principal, a.capability.as_str(), a.via);
        let cells = [
            verdict(a.old_verdict),
            verdict(a.new_verdict),
            path.as_str(),
        ];
        key_row(a.change, "", &a.key_arn, cells)
    });
    let usage = diff.usage.iter().map(|u| {
        let uses = format!("before: {}; now: {}", u.old_last_use, u.new_last_use);
        key_row(
            u.change,
            "KMS-KEY-UNUSED",
            &u.key_arn,
            ["", "", uses.as_str()],
        )
    });
    let mut out = Vec::new();
    write(
        &mut out,
        &header,
        changed.chain(keys).chain(access).chain(usage),
    )?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kmsaudit_model::Capability;

    const K1: &str = "arn:aws:kms:us-east-1:111122223333:key/k1";
    const K2: &str = "arn:aws:kms:us-east-1:111122223333:key/k2";

    /// A findings document with keys K1 and K2 and these access groups
    /// (principal, capability, verdict, key indices).
    /// (principal, capability, verdict, key indices)
    type Group<'g> = (&'g str, &'g str, &'g str, &'g [u32]);

    fn doc(access: Option<&[Group<'_>]>) -> FindingsDocument<'static> {
        let key = |id: &str| {
            serde_json::json!({"id": id, "type": "AWS::KMS::Key", "account": "111122223333",
                "region": "us-east-1", "name": id})
        };
        let mut v = serde_json::json!({
            "schema_version": 2, "tool_version": "t",
            "scan_started_at": "2026-12-01T00:00:00Z", "scan_finished_at": "2026-12-01T00:01:00Z",
            "organization_id": null, "rules": [], "resources": [key(K1), key(K2)],
            "findings": [], "quiet": [], "scope": serde_json::to_value(
                kmsaudit_model::ScopeSummary::default()).unwrap(),
            "accounts": [], "regions": [], "warnings": []
        });
        if let Some(groups) = access {
            v["access"] = groups
                .iter()
                .map(|(p, cap, verdict, keys)| {
                    serde_json::json!({"principal": p, "capability": cap, "verdict": verdict,
                        "via": format!("{p} path"), "keys": keys})
                })
                .collect();
        }
        serde_json::from_value(v).unwrap()
    }

    fn changes(d: &Diff) -> Vec<(&str, &str, &str, Capability)> {
        d.access
            .iter()
            .map(|a| {
                (
                    a.change,
                    a.key_arn.as_str(),
                    a.principal.as_str(),
                    a.capability,
                )
            })
            .collect()
    }

    #[test]
    fn access_gained_and_lost_are_named_by_key_principal_and_capability() {
        let old = doc(Some(&[
            ("role/A", "decrypt", "allowed", &[0, 1]),
            ("role/B", "decrypt", "conditional", &[0]),
            ("role/C", "policy", "allowed", &[0]),
            ("role/D", "decrypt", "not_assessed", &[0]),
        ]));
        let new = doc(Some(&[
            ("role/A", "decrypt", "allowed", &[0]),
            ("role/B", "decrypt", "allowed", &[0]),
            ("role/C", "policy", "allowed", &[0]),
            ("role/D", "decrypt", "allowed", &[0]),
            ("role/E", "delete", "conditional", &[1]),
        ]));
        let d = diff(&old, &new);
        assert_eq!(
            changes(&d),
            [
                ("access_gained", K1, "role/B", Capability::Decrypt),
                ("access_lost", K2, "role/A", Capability::Decrypt),
                ("access_gained", K2, "role/E", Capability::Delete),
            ]
        );
        assert_eq!(d.counts["access_gained"], 2);
        assert_eq!(d.counts["access_lost"], 1);
        assert_eq!(d.access[1].via, "role/A path", "a loss shows the old path");
        let csv = String::from_utf8(diff_csv(&d).unwrap()).unwrap();
        assert!(
            csv.contains(&format!(
                "access_lost,,,111122223333,us-east-1,{K2},allowed,,role/A decrypt via role/A path"
            )),
            "{csv}"
        );
        // Nothing is compared, nor counted, unless both audits read IAM.
        let d = diff(&doc(None), &new);
        assert!(d.access.is_empty() && !d.counts.contains_key("access_gained"));
        assert!(diff(&new, &new).access.is_empty());
    }

    /// K1 unused (FAIL) when `k1_unused`, else K2, each with its last use.
    fn usage_doc(k1_unused: bool) -> FindingsDocument<'static> {
        let mut v = serde_json::to_value(doc(None)).unwrap();
        v["rules"] = serde_json::json!([{"id": "KMS-KEY-UNUSED", "severity": "low", "title": "t",
            "rationale": "r", "remediation": "m", "compliance": {}}]);
        let (failing, passing) = if k1_unused { (0, 1) } else { (1, 0) };
        v["findings"] = serde_json::json!([{"rule_id": "KMS-KEY-UNUSED", "severity": "low",
            "status": "FAIL", "muted": false, "message": "unused", "evidence": {},
            "resources": [failing]}]);
        v["quiet"] = serde_json::json!([{"resource": passing, "pass": [0], "not_applicable": []}]);
        v["last_use"] = serde_json::json!([
            {"key": K1, "state": "used", "operation": "Decrypt",
             "at": if k1_unused { "2026-05-01T00:00:00Z" } else { "2026-11-30T00:00:00Z" },
             "read_at": "2026-12-01T00:00:00Z"},
            {"key": K2, "state": "never_used", "since": "2026-01-01T00:00:00Z",
             "read_at": "2026-12-01T00:00:00Z"},
        ]);
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn keys_that_became_unused_or_were_used_again_are_named_with_both_last_uses() {
        let (old, new) = (usage_doc(true), usage_doc(false));
        let d = diff(&old, &new);
        let got: Vec<(&str, &str)> = d
            .usage
            .iter()
            .map(|u| (u.change, u.key_arn.as_str()))
            .collect();
        // In the order of the changes: new findings before fixed ones.
        assert_eq!(got, [("key_became_unused", K2), ("key_used_again", K1)]);
        assert_eq!(
            d.usage[1].old_last_use,
            "last used by Decrypt on 2026-05-01"
        );
        assert_eq!(
            d.usage[1].new_last_use,
            "last used by Decrypt on 2026-11-30"
        );
        assert_eq!(d.counts["key_became_unused"], 1);
        assert_eq!(d.counts["key_used_again"], 1);
        let csv = String::from_utf8(diff_csv(&d).unwrap()).unwrap();
        assert!(
            csv.contains("key_used_again,KMS-KEY-UNUSED,,111122223333,us-east-1"),
            "{csv}"
        );
        // Without last use on both sides, nothing is counted.
        assert!(!diff(&doc(None), &new).counts.contains_key("key_used_again"));
    }
}
