//! Facts about a key that several rules read: its grants, whether rotation applies, and what
//! IAM Access Analyzer covers and reports for it.

use kmsaudit_model::{AnalyzerFinding, Evidence, Grant};

use super::KeyInput;
use crate::context::Ctx;

/// The grantee of a grant, for messages (`?` when the grant names none).
pub(crate) fn grantee(g: &Grant) -> &str {
    g.grantee_principal.as_deref().unwrap_or("?")
}

/// Evidence of a grant: its grantee and operations.
pub(crate) fn grant_evidence(g: &Grant) -> Evidence {
    Evidence {
        principal: g.grantee_principal.clone(),
        actions: g.operations.clone(),
        ..Default::default()
    }
}

/// The key's grants, or why they are unknown.
pub(crate) fn grants<'a>(input: &'a KeyInput<'_>) -> Result<&'a [Grant], String> {
    match &input.key.grants {
        Some(g) => Ok(g),
        None => Err(match input.key.error_for("KMS.ListGrants") {
            Some(e) => format!("grants could not be listed: {} {}", e.code, e.message),
            None => "grants were not collected".to_string(),
        }),
    }
}

/// NOT_APPLICABLE reason when rotation cannot apply to the key, else `None`.
pub(crate) fn rotation_not_applicable(input: &KeyInput<'_>) -> Option<String> {
    let m = input.meta;
    if !m.rotation_applies() {
        return Some(format!(
            "automatic rotation does not apply to this key (spec {}, usage {}, origin {}{})",
            m.key_spec,
            m.key_usage,
            m.origin,
            if m.custom_key_store_id.is_some() {
                ", custom key store"
            } else {
                ""
            }
        ));
    }
    if m.key_state.starts_with("Pending") && m.key_state.contains("Deletion") {
        return Some("the key is pending deletion".into());
    }
    None
}

/// Ok when an active analyzer covers the key's account and region; else why the analyzer's
/// view of the key is unknown.
pub(crate) fn analyzer_covers(input: &KeyInput<'_>, ctx: &Ctx<'_>) -> Result<(), String> {
    if ctx.analyzers.org_regions.contains(input.region) {
        return Ok(());
    }
    match input.access_analyzer {
        None => Err("Access Analyzer was not queried for this account and region".into()),
        Some(aa) => match &aa.error {
            Some(e) => Err(format!(
                "Access Analyzer could not be read: {} {}",
                e.code, e.message
            )),
            None if aa.analyzers.iter().any(|a| a.status == "ACTIVE") => Ok(()),
            None => Err(match ctx.analyzers.unknown(input.region) {
                Some(why) => format!("no analyzer in this account, and whether an organization analyzer covers the region is unknown: {why}"),
                None => "no active Access Analyzer covers this account and region".into(),
            }),
        },
    }
}

/// Ok when "no finding for this key" is an answer: an active analyzer of the key's own account
/// was read in full, or every analyzer listing of the region was. Else why it is not.
pub(crate) fn findings_complete(input: &KeyInput<'_>, ctx: &Ctx<'_>) -> Result<(), String> {
    let own_read = input
        .access_analyzer
        .is_some_and(|aa| aa.error.is_none() && aa.analyzers.iter().any(|a| a.status == "ACTIVE"));
    match ctx.analyzers.unknown(input.region) {
        Some(why) if !own_read => Err(format!(
            "findings of the organization's analyzers in this region could not all be read: {why}"
        )),
        _ => Ok(()),
    }
}

/// The key's ACTIVE findings, from every analyzer of the organization that was read.
pub(crate) fn active_findings<'c>(input: &KeyInput<'_>, ctx: &'c Ctx<'_>) -> &'c [AnalyzerFinding] {
    ctx.analyzers
        .findings
        .get(&input.key.arn)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// Evidence of a key's last use: its state, when, by which operation and CloudTrail event, and
/// whether the answer was carried from a baseline. When it was read is left to keys.csv and
/// findings.json: two scans with the same answers give the same findings.
pub(crate) fn last_use_evidence(last_use: &kmsaudit_model::LastUse, ev: Evidence) -> Evidence {
    use kmsaudit_model::LastUseState as S;
    let mut ev = ev.detail("last_use_state", last_use.state.name());
    ev = match &last_use.state {
        S::Used {
            operation,
            at,
            cloudtrail_event_id,
        } => {
            let ev = ev
                .detail("last_used_at", at.to_string())
                .detail("last_use_operation", operation.clone());
            match cloudtrail_event_id {
                Some(id) => ev.detail("cloudtrail_event_id", id.clone()),
                None => ev,
            }
        }
        S::NeverUsed { since } => ev.detail("never_used_since", since.to_string()),
        S::NoRecordedUse { since } => ev.detail("tracking_since", since.to_string()),
        S::NotAssessed { issue } => ev.detail("last_use_error", issue.to_string()),
    };
    if last_use.from_baseline {
        ev.detail("last_use_from", "baseline")
    } else {
        ev
    }
}
