//! keys.csv: one row per key, its inventory, its findings counted, and its last use.

use std::io::Write;

use kmsaudit_model::{Evaluation, Snapshot, Status};

use crate::csv_out::{write, Row};

/// One row per key (AWS-managed keys included, as inventory).
pub(crate) fn keys_csv(
    out: &mut dyn Write,
    snapshot: &Snapshot,
    evaluation: &Evaluation,
) -> std::io::Result<()> {
    let header = [
        "account_id",
        "account_name",
        "region",
        "key_arn",
        "key_id",
        "aliases",
        "description",
        "key_manager",
        "key_state",
        "key_spec",
        "key_usage",
        "origin",
        "multi_region",
        "rotation_enabled",
        "rotation_period_days",
        "next_rotation_date",
        "deletion_date",
        "imported_material_valid_to",
        "grants",
        "tags",
        "failing_findings",
        "highest_failing_severity",
        "not_assessed_findings",
        "collection_errors",
        "last_use_state",
        "last_used_at",
        "last_use_operation",
        "last_use_cloudtrail_event_id",
        "last_use_tracked_since",
        "last_use_read_at",
        "last_use_note",
    ];
    let mut per_key: std::collections::BTreeMap<
        &str,
        (i64, Option<kmsaudit_model::Severity>, i64),
    > = Default::default();
    for f in &evaluation.findings {
        let e = per_key.entry(&*f.resource).or_default();
        match f.status {
            Status::Fail if !f.muted => {
                e.0 += 1;
                e.1 = e.1.max(Some(f.severity));
            }
            Status::NotAssessed if !f.muted => e.2 += 1,
            _ => {}
        }
    }
    let rows = snapshot.keys().map(|(a, r, k)| {
        let m = k.metadata.clone().unwrap_or_default();
        let (fails, worst, na) = per_key.get(k.arn.as_str()).copied().unwrap_or_default();
        let tags = k.tags_text("; ").unwrap_or_default();
        Row::default()
            .text(&a.id)
            .text(a.name.as_deref().unwrap_or(""))
            .text(&r.region)
            .text(&k.arn)
            .text(&k.key_id)
            .text(k.aliases.join(" "))
            .text(&m.description)
            .text(&m.key_manager)
            .text(&m.key_state)
            .text(&m.key_spec)
            .text(&m.key_usage)
            .text(&m.origin)
            .text(m.multi_region.map(|b| b.to_string()).unwrap_or_default())
            .text(
                k.rotation
                    .as_ref()
                    .map(|r| r.enabled.to_string())
                    .unwrap_or_default(),
            )
            .opt_num(
                k.rotation
                    .as_ref()
                    .and_then(|r| r.period_days)
                    .map(i64::from),
            )
            .time(k.rotation.as_ref().and_then(|r| r.next_rotation_date))
            .time(m.deletion_date)
            .time(m.valid_to)
            .opt_num(k.grants.as_ref().map(|g| g.len() as i64))
            .text(tags)
            .num(fails)
            .text(worst.map(|s| s.as_str()).unwrap_or(""))
            .num(na)
            .text(
                k.errors
                    .iter()
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
                    .join("; "),
            )
            .last_use(k.last_use.as_ref())
    });
    write(out, &header, rows)
}

impl Row {
    /// keys.csv's last-use cells: state, when used, operation, CloudTrail event id, since when
    /// tracked without use, when read, and a note (carried from the baseline, or the error).
    fn last_use(self, last_use: Option<&kmsaudit_model::LastUse>) -> Row {
        use kmsaudit_model::LastUseState as S;
        let Some(u) = last_use else {
            return (0..7).fold(self, |row, _| row.text(""));
        };
        let (at, operation, event, since, note) = match &u.state {
            S::Used {
                operation,
                at,
                cloudtrail_event_id,
            } => (
                Some(*at),
                operation.as_str(),
                cloudtrail_event_id.as_deref().unwrap_or(""),
                None,
                String::new(),
            ),
            S::NeverUsed { since } | S::NoRecordedUse { since } => {
                (None, "", "", Some(*since), String::new())
            }
            S::NotAssessed { issue } => (None, "", "", None, issue.to_string()),
        };
        let note = if u.from_baseline {
            "carried from the baseline".to_string()
        } else {
            note
        };
        self.text(u.state.name())
            .time(at)
            .text(operation)
            .text(event)
            .time(since)
            .time(Some(u.read_at))
            .text(note)
    }
}
