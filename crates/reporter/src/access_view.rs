//! Who can use and who can administer a key, for its detail section in report.html: counts by
//! account, and every path on demand (up to [`MAX_PATHS`]; access.csv has them all).

use std::collections::BTreeMap;

use kmsaudit_model::{AccessEntryView, AccessVerdict};
use serde::Serialize;

/// Paths listed per key and side; the rest are counted.
const MAX_PATHS: usize = 100;
/// Accounts counted in a key's detail, those with the most principals first; the others are
/// counted together (an organization-wide key policy reaches every account: a thousand rows per
/// rendered key, held and rendered whole).
const MAX_ACCOUNTS: usize = 50;

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
    /// Accounts beyond [`MAX_ACCOUNTS`], and their principals.
    pub more_accounts: usize,
    pub more_accounts_principals: usize,
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

/// The view of one key's rows.
pub(crate) fn key_access_view(rows: &[AccessEntryView<'_>]) -> KeyAccessView {
    let (admin, usage): (Vec<AccessEntryView>, Vec<AccessEntryView>) =
        rows.iter().partition(|r| r.capability.is_administration());
    let decrypt: Vec<AccessEntryView> = usage
        .into_iter()
        .filter(|r| r.capability == kmsaudit_model::Capability::Decrypt)
        .collect();
    KeyAccessView {
        decrypt: who(&decrypt),
        administer: who(&admin),
    }
}

fn who(rows: &[AccessEntryView<'_>]) -> WhoView {
    // A principal counts once per side, by its best verdict.
    let mut best: BTreeMap<(&str, &str), AccessVerdict> = BTreeMap::new();
    for r in rows {
        let account = r.principal_account.unwrap_or("outside");
        let slot = best.entry((account, r.principal)).or_insert(r.verdict);
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
            principal: r.principal.to_string(),
            capability: r.capability.as_str(),
            verdict: r.verdict.as_str(),
            via: r.via.to_string(),
            conditions: r.conditions.join("; "),
        })
        .collect();
    let total = |c: &AccountCount| c.allowed + c.conditional + c.not_assessed;
    let mut by_account: Vec<AccountCount> = by_account.into_values().collect();
    // Stable: accounts with as many principals stay in account order.
    by_account.sort_by_key(|c| std::cmp::Reverse(total(c)));
    let rest = by_account.split_off(by_account.len().min(MAX_ACCOUNTS));
    WhoView {
        principals: best.len(),
        by_account,
        paths,
        more: rows.len().saturating_sub(MAX_PATHS),
        more_accounts: rest.len(),
        more_accounts_principals: rest.iter().map(total).sum(),
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
    use kmsaudit_model::{AccessRow, AccessTable, Capability};

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
        let table = AccessTable::from_rows(rows);
        let mine = table.of("k2");
        assert_eq!(mine.len(), 5);
        assert!(table.of("k0").is_empty());
        let v = key_access_view(&mine);
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
        assert_eq!(v.decrypt.more_accounts, 0);
    }

    #[test]
    fn accounts_beyond_the_cap_are_counted_together_the_largest_shown_first() {
        let rows: Vec<AccessRow> = (0..MAX_ACCOUNTS + 10)
            .map(|a| format!("arn:aws:iam::{:012}:role/Admin", 100_000_000_000 + a))
            .chain((0..3).map(|i| format!("arn:aws:iam::999999999999:role/R{i}")))
            .map(|p| row("k", &p, Capability::Decrypt, AccessVerdict::Allowed))
            .collect();
        let table = AccessTable::from_rows(rows);
        let v = key_access_view(&table.of("k"));
        assert_eq!(v.decrypt.principals, MAX_ACCOUNTS + 13);
        assert_eq!(v.decrypt.by_account.len(), MAX_ACCOUNTS);
        assert_eq!(v.decrypt.by_account[0].account, "999999999999");
        assert_eq!(v.decrypt.by_account[0].allowed, 3);
        assert_eq!(v.decrypt.by_account[1].account, "100000000000");
        assert_eq!(v.decrypt.more_accounts, 11);
        assert_eq!(v.decrypt.more_accounts_principals, 11);
    }
}
