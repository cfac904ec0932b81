//! The report's scope section in words: where the regions came from, how last use was read,
//! and the monitoring coverage of each account × region holding keys.

use kmsaudit_model::Snapshot;

/// Where the scanned accounts' regions came from, when the scan named none.
pub(crate) fn regions_source(snapshot: &Snapshot) -> String {
    use kmsaudit_model::RegionSource;
    let (mut listed, mut built_in, mut why) = (0, 0, None);
    for a in &snapshot.accounts {
        match &a.regions_from {
            Some(RegionSource::ListRegions) => listed += 1,
            Some(RegionSource::BuiltIn { reason, regions }) => {
                built_in += 1;
                why.get_or_insert((reason.as_str(), *regions));
            }
            None => {}
        }
    }
    let mut parts = Vec::new();
    if listed > 0 {
        parts.push(format!(
            "as account:ListRegions lists them for {listed} accounts"
        ));
    }
    if let Some((reason, regions)) = why {
        parts.push(format!(
            "kmsaudit's built-in list of {regions} regions for {built_in} accounts, where ListRegions did not answer ({reason}); a region opened after this release is not scanned there"
        ));
    }
    if parts.is_empty() {
        "every enabled region".into()
    } else {
        format!("every enabled region: {}", parts.join("; "))
    }
}

/// "Last use (GetKeyLastUsage) of N customer managed keys: ..." for the scope section.
pub(crate) fn last_use_summary(snapshot: &Snapshot) -> Option<String> {
    use kmsaudit_model::LastUseState as S;
    if !snapshot.metadata.scope.last_use {
        return None;
    }
    let mut counts = [0usize; 6];
    for (_, _, k) in snapshot.keys() {
        let Some(u) = &k.last_use else { continue };
        counts[match &u.state {
            S::Used { .. } => 0,
            S::NeverUsed { .. } => 1,
            S::NoRecordedUse { .. } => 2,
            S::NotAssessed { issue } if issue.code == "NotReached" => 4,
            S::NotAssessed { .. } => 3,
        }] += 1;
        if u.from_baseline {
            counts[5] += 1;
        }
    }
    let [used, never, none, failed, not_reached, carried] = counts;
    Some(format!(
        "Last use (GetKeyLastUsage) of {} customer managed keys: {used} used, {never} never used \
         since creation, {none} with no recorded use since tracking began, {failed} not read \
         (error), {not_reached} not reached within the wait; {carried} answers carried from the \
         baseline.",
        counts[..5].iter().sum::<usize>()
    ))
}

/// One account × region holding keys: its trail and alert verdicts.
#[derive(serde::Serialize)]
pub(crate) struct MonitoringRow {
    pub account_id: String,
    pub account_name: String,
    pub region: String,
    pub trail: &'static str,
    pub trail_note: String,
    pub alert: &'static str,
    pub alert_note: String,
    /// Whether CloudWatch.7's exact filter text is there (`""`: not said).
    pub cloudwatch_7: String,
}

/// The monitoring coverage per account × region, when the scan read monitoring.
pub(crate) fn monitoring_rows(
    snapshot: &Snapshot,
    evaluation: &kmsaudit_model::Evaluation,
) -> Option<Vec<MonitoringRow>> {
    if !snapshot.metadata.scope.monitoring {
        return None;
    }
    const RULES: [&str; 2] = ["KMS-MONITORING-TRAIL", "KMS-MONITORING-ALERT"];
    let statuses: std::collections::HashMap<(&str, &str), kmsaudit_model::Status> = evaluation
        .outcomes()
        .filter(|o| RULES.contains(&o.rule_id))
        .map(|o| ((o.rule_id, o.resource), o.status))
        .collect();
    let findings: std::collections::HashMap<(&str, &str), &kmsaudit_model::Finding> = evaluation
        .findings
        .iter()
        .filter(|f| RULES.contains(&&*f.rule_id))
        .map(|f| ((&*f.rule_id, &*f.resource), f))
        .collect();
    let mut rows = vec![];
    for a in &snapshot.accounts {
        for r in &a.regions {
            let resource = format!("account/{}/region/{}", a.id, r.region);
            let verdict = |rule: &str| {
                let status = statuses.get(&(rule, resource.as_str()))?;
                let note = findings
                    .get(&(rule, resource.as_str()))
                    .map(|f| f.message.to_string())
                    .unwrap_or_default();
                Some((status.as_str(), note))
            };
            let (Some((trail, trail_note)), Some((alert, alert_note))) =
                (verdict(RULES[0]), verdict(RULES[1]))
            else {
                continue;
            };
            let cloudwatch_7 = findings
                .get(&(RULES[1], resource.as_str()))
                .and_then(|f| f.evidence.details.get("cloudwatch_7_exact_filter"))
                .unwrap_or_default()
                .to_string();
            rows.push(MonitoringRow {
                account_id: a.id.clone(),
                account_name: a.name.clone().unwrap_or_default(),
                region: r.region.clone(),
                trail,
                trail_note,
                alert,
                alert_note,
                cloudwatch_7,
            });
        }
    }
    Some(rows)
}
