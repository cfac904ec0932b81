//! Muting: findings of allow-listed keys and suppressed findings are MUTED (still listed), and
//! suppressions that expired or matched nothing are reported.

use std::collections::BTreeMap;

use kmsaudit_model::{Finding, Snapshot, Status};

use crate::context::Ctx;
use crate::policy::wildcard_match;

/// Mutes what the configuration says to mute; returns warnings about the suppressions.
pub(crate) fn apply_mutes(
    findings: &mut [Finding],
    snapshot: &Snapshot,
    ctx: &Ctx<'_>,
) -> Vec<String> {
    let config = ctx.config;
    let aliases: BTreeMap<&str, &[String]> = snapshot
        .keys()
        .map(|(_, _, k)| (k.arn.as_str(), k.aliases.as_slice()))
        .collect();
    let today = ctx.now.to_zoned(jiff::tz::TimeZone::UTC).date();
    let mut used = vec![false; config.suppressions.len()];
    for f in findings
        .iter_mut()
        .filter(|f| matches!(f.status, Status::Fail | Status::NotAssessed))
    {
        if let Some(pattern) = aliases.get(&*f.resource).and_then(|a| {
            config
                .key_allowlist
                .iter()
                .find(|p| a.iter().any(|alias| wildcard_match(p, alias)))
        }) {
            f.muted = true;
            f.mute_reason = Some(format!("key allow-listed by alias pattern `{pattern}`"));
            continue;
        }
        for (i, s) in config.suppressions.iter().enumerate() {
            if !wildcard_match(&s.rule, &f.rule_id) || !wildcard_match(&s.resource, &f.resource) {
                continue;
            }
            used[i] = true;
            if s.expires >= today {
                f.muted = true;
                f.mute_reason = Some(format!(
                    "suppressed until {}: {}",
                    s.expires, s.justification
                ));
                break;
            }
            f.message = format!(
                "{} (a suppression of this finding expired on {})",
                f.message, s.expires
            )
            .into();
        }
    }
    let mut warnings = Vec::new();
    for (i, s) in config.suppressions.iter().enumerate() {
        if s.expires < today {
            warnings.push(format!(
                "suppression {} (`{}` on `{}`) expired on {}: it no longer mutes anything",
                i + 1,
                s.rule,
                s.resource,
                s.expires
            ));
        } else if !used[i] {
            warnings.push(format!(
                "suppression {} (`{}` on `{}`) matched no finding",
                i + 1,
                s.rule,
                s.resource
            ));
        }
    }
    warnings
}
