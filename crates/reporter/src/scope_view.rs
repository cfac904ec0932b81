//! The report's scope section in words: where the regions came from, how last use was read.

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
