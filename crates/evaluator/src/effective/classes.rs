//! Keys alike: keys whose access is decided the same way, so that it is worked out once.
//!
//! Two keys of one account (in any of its regions) with the same key policy text, no grants,
//! the same manager, and the same answer from every Resource pattern of every policy the scan
//! read get the same rows, key ARN aside: a request on a key reads its ARN only through
//! Resource patterns (nothing else a decision knows, see `decide::known_context`, depends on
//! the key's region or id), and that is what the fingerprint records. A key whose answer could
//! differ for another reason is alone in its class: its grants or policy were not read, or a
//! pattern names a policy variable (what it resolves to depends on the caller).

use rustc_hash::{FxHashMap, FxHashSet};

use super::directory::Directory;
use crate::policy::{arn_match, Policy};

/// Every distinct Resource pattern of the scan's policies, by the account they name.
#[derive(Debug, Default)]
pub(crate) struct ResourcePatterns {
    /// By account named literally (lowercase).
    by_account: FxHashMap<String, Vec<(u32, String)>>,
    /// Patterns whose account segment holds a wildcard.
    any_account: Vec<(u32, String)>,
    /// Accounts (or every account, `variable_anywhere`) where a pattern names a variable.
    variable_accounts: FxHashSet<String>,
    variable_anywhere: bool,
}

/// What makes two keys alike.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct ClassKey<'k> {
    /// The key ARN's partition (`aws`, `aws-cn`...).
    partition: &'k str,
    account: &'k str,
    policy: &'k str,
    customer_managed: bool,
    /// The ids of the scan's patterns that match the key's ARN, then whether each pattern of
    /// its own policy does.
    fingerprint: Vec<u32>,
}

impl ResourcePatterns {
    pub fn build(dir: &Directory) -> ResourcePatterns {
        let policies = dir
            .identities
            .iter()
            .flat_map(|i| i.policies.iter().chain(&i.boundary))
            .chain(dir.org.scps.values().flatten())
            .chain(dir.org.rcps.values().flatten());
        let mut done: FxHashSet<*const Policy> = FxHashSet::default();
        let mut all: Vec<&str> = vec![];
        for named in policies {
            if done.insert(std::sync::Arc::as_ptr(&named.policy)) {
                let statements = named.policy.statements.iter();
                all.extend(
                    statements.flat_map(|st| st.resources.patterns.iter().map(String::as_str)),
                );
            }
        }
        let mut out = ResourcePatterns::default();
        let mut seen: FxHashSet<&str> = FxHashSet::default();
        for pattern in all {
            let Some(account) = account_of(pattern) else {
                continue;
            };
            if pattern.contains("${") {
                match literal(account) {
                    Some(a) => {
                        out.variable_accounts.insert(a);
                    }
                    None => out.variable_anywhere = true,
                }
                continue;
            }
            if !seen.insert(pattern) {
                continue;
            }
            let id = u32::try_from(seen.len()).expect("under 4G patterns");
            let entry = (id, pattern.to_string());
            match literal(account) {
                Some(a) => out.by_account.entry(a).or_default().push(entry),
                None => out.any_account.push(entry),
            }
        }
        out
    }

    /// The class of a key with this policy (parsed, or why not), or `None` when it must be
    /// worked out alone.
    pub fn class_of<'k>(
        &self,
        key: &'k kmsaudit_model::KeyRecord,
        parsed: Option<&Policy>,
    ) -> Option<ClassKey<'k>> {
        let policy = key.policy.as_deref()?;
        // Grants unread: the key's own not-assessed rows (keys with grants share the answers
        // of everyone but their grantees, see `key_access`).
        key.grants.as_ref()?;
        let mut fields = key.arn.splitn(6, ':');
        let partition = fields.nth(1)?;
        let account = fields.nth(2)?;
        let lowercase = account.to_ascii_lowercase();
        if self.variable_anywhere || self.variable_accounts.contains(&lowercase) {
            return None;
        }
        let mut fingerprint: Vec<u32> = self
            .by_account
            .get(&lowercase)
            .into_iter()
            .flatten()
            .chain(&self.any_account)
            .filter(|(_, p)| arn_match(p, &key.arn))
            .map(|(id, _)| *id)
            .collect();
        fingerprint.sort_unstable();
        // The key policy's own patterns, in order (the text is part of the class).
        fingerprint.push(u32::MAX);
        for st in parsed.map(|p| &p.statements[..]).unwrap_or_default() {
            for p in &st.resources.patterns {
                if p.contains("${") {
                    return None;
                }
                fingerprint.push(u32::from(arn_match(p, &key.arn)));
            }
        }
        Some(ClassKey {
            partition,
            account,
            policy,
            customer_managed: key.is_customer_managed(),
            fingerprint,
        })
    }
}

/// A pattern's account segment; `None` for `*` (matches every key alike) and for patterns
/// with fewer than six segments (match none).
fn account_of(pattern: &str) -> Option<&str> {
    let mut parts = pattern.splitn(6, ':');
    let account = parts.nth(4)?;
    parts.next().map(|_| account)
}

/// The account a segment names literally, lowercase.
fn literal(account: &str) -> Option<String> {
    (!account.contains(['*', '?', '$'])).then(|| account.to_ascii_lowercase())
}
