//! Who can use and who can administer a key, for its detail section in report.html: counts by
//! account, and every path on demand (up to [`MAX_PATHS`]; access.csv has them all).

use std::collections::BTreeMap;

use kmsaudit_model::{AccessRow, AccessVerdict};
use serde::Serialize;

/// Paths listed per key and side; the rest are counted.
const MAX_PATHS: usize = 100;

/// Both sides of one key.
#[derive(Serialize)]
pub(crate) struct KeyAccessView {
    /// Decrypt (Decrypt, ReEncryptFrom).
    pub decrypt: WhoView,
    /// Administer: change the policy, disable, schedule deletion, create grants.
    pub administer: WhoView,
}

/// The principals of one side.
#[derive(Default, Serialize)]
pub(crate) struct WhoView {
    /// Distinct principals.
    pub principals: usize,
    pub by_account: Vec<AccountCount>,
    pub paths: Vec<PathView>,
    /// Rows not listed in `paths`.
    pub more: usize,
}

#[derive(Serialize)]
pub(crate) struct AccountCount {
    /// An account id, or `outside` for `*` and principals without one.
    pub account: String,
    pub allowed: usize,
    pub conditional: usize,
    pub not_assessed: usize,
}

#[derive(Serialize)]
pub(crate) struct PathView {
    pub principal: String,
    pub capability: &'static str,
    pub verdict: &'static str,
    pub via: String,
    pub conditions: String,
}

/// The rows of `key` in `rows` (sorted by key, as the evaluation holds them).
pub(crate) fn rows_of<'r>(rows: &'r [AccessRow], key: &str) -> &'r [AccessRow] {
    let start = rows.partition_point(|r| r.key_arn.as_str() < key);
    let end = start + rows[start..].partition_point(|r| r.key_arn == key);
    &rows[start..end]
}

/// The view of one key's rows.
pub(crate) fn key_access_view(rows: &[AccessRow]) -> KeyAccessView {
    let (admin, usage): (Vec<&AccessRow>, Vec<&AccessRow>) =
        rows.iter().partition(|r| r.capability.is_administration());
    let decrypt: Vec<&AccessRow> = usage
        .into_iter()
        .filter(|r| r.capability == kmsaudit_model::Capability::Decrypt)
        .collect();
    KeyAccessView {
        decrypt: who(&decrypt),
        administer: who(&admin),
    }
}

fn who(rows: &[&AccessRow]) -> WhoView {
    // A principal counts once per side, by its best verdict.
    let mut best: BTreeMap<(&str, &str), AccessVerdict> = BTreeMap::new();
    for r in rows {
        let account = r.principal_account.as_deref().unwrap_or("outside");
        let slot = best
            .entry((account, r.principal.as_str()))
            .or_insert(r.verdict);
        *slot = better(*slot, r.verdict);
    }
    let mut by_account: BTreeMap<&str, AccountCount> = BTreeMap::new();
    for ((account, _), verdict) in &best {
        let c = by_account.entry(account).or_insert_with(|| AccountCount {
            account: account.to_string(),
            allowed: 0,
            conditional: 0,
            not_assessed: 0,
        });
        match verdict {
            AccessVerdict::Allowed => c.allowed += 1,
            AccessVerdict::Conditional => c.conditional += 1,
            AccessVerdict::NotAssessed => c.not_assessed += 1,
        }
    }
    let paths = rows
        .iter()
        .take(MAX_PATHS)
        .map(|r| PathView {
            principal: r.principal.clone(),
            capability: r.capability.as_str(),
            verdict: r.verdict.as_str(),
            via: r.via.clone(),
            conditions: r.conditions.join("; "),
        })
        .collect();
    WhoView {
        principals: best.len(),
        by_account: by_account.into_values().collect(),
        paths,
        more: rows.len().saturating_sub(MAX_PATHS),
    }
}

/// Allowed over conditional over not assessed.
fn better(a: AccessVerdict, b: AccessVerdict) -> AccessVerdict {
    let rank = |v| match v {
        AccessVerdict::Allowed => 2,
        AccessVerdict::Conditional => 1,
        AccessVerdict::NotAssessed => 0,
    };
    if rank(b) > rank(a) {
        b
    } else {
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kmsaudit_model::Capability;

    fn row(key: &str, principal: &str, cap: Capability, verdict: AccessVerdict) -> AccessRow {
        AccessRow {
            key_arn: key.into(),
            principal: principal.into(),
            principal_account: kmsaudit_model::arn_account(principal).map(str::to_string),
            capability: cap,
            verdict,
            via: "key policy".into(),
            conditions: vec![],
        }
    }

    #[test]
    fn a_key_shows_its_own_rows_counted_once_per_principal_by_account() {
        use AccessVerdict::*;
        use Capability::*;
        let a = "arn:aws:iam::111122223333:role/A";
        let b = "arn:aws:iam::444455556666:role/B";
        let rows = vec![
            row("k1", a, Decrypt, Allowed),
            row("k2", a, Decrypt, Conditional),
            row("k2", a, Delete, Allowed),
            row("k2", a, Policy, Allowed),
            row("k2", b, Decrypt, Allowed),
            row("k2", "*", Decrypt, NotAssessed),
            row("k3", b, Decrypt, Allowed),
        ];
        let mine = rows_of(&rows, "k2");
        assert_eq!(mine.len(), 5);
        assert!(rows_of(&rows, "k0").is_empty());
        let v = key_access_view(mine);
        assert_eq!(v.decrypt.principals, 3);
        let counts: Vec<(&str, usize, usize, usize)> = v
            .decrypt
            .by_account
            .iter()
            .map(|c| (c.account.as_str(), c.allowed, c.conditional, c.not_assessed))
            .collect();
        assert_eq!(
            counts,
            [
                ("111122223333", 0, 1, 0),
                ("444455556666", 1, 0, 0),
                ("outside", 0, 0, 1)
            ]
        );
        assert_eq!(
            v.administer.principals, 1,
            "one principal, two capabilities"
        );
        assert_eq!(v.administer.paths.len(), 2);
    }
}
