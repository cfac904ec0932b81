//! Whether a statement's `Resource` covers the key: exactly with the key's ARN, and with only
//! its account known (`lint-policy --key-account`) when a pattern covers every key of that
//! account in every region.

use super::parse::ResourceSpec;

/// What is known of the key a policy is analysed for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyScope<'a> {
    /// The key's ARN (a scan, or `lint-policy --key-arn`).
    Arn(&'a str),
    /// Only the key's account (`lint-policy --key-account`): its region and id are unknown, and
    /// its partition is taken to be `aws`.
    Account(&'a str),
    /// Nothing: an analysis shared by every key (all statements on `Resource: "*"`).
    Unknown,
}

impl ResourceSpec {
    /// Whether the statement applies to the key; `None` when that depends on what is unknown.
    pub fn applies_to(&self, key: KeyScope<'_>) -> Option<bool> {
        let matched = if self.patterns.iter().any(|p| p == "*") {
            true
        } else {
            match key {
                KeyScope::Arn(arn) => self
                    .patterns
                    .iter()
                    .any(|p| super::wildcard::wildcard_match(p, arn)),
                KeyScope::Account(account) => {
                    if self.patterns.iter().any(|p| covers_every_key(p, account)) {
                        true
                    } else if self.patterns.iter().all(|p| misses_every_key(p, account)) {
                        false
                    } else {
                        return None;
                    }
                }
                KeyScope::Unknown => return None,
            }
        };
        Some(matched != self.negated)
    }
}

/// Whether an ARN pattern matches every key of `account` in every region:
/// `arn:aws:kms:*:111122223333:key/*` does, `arn:aws:kms:us-east-1:...` does not.
fn covers_every_key(pattern: &str, account: &str) -> bool {
    use super::wildcard::wildcard_match;
    let all_star = |f: &str| !f.is_empty() && f.chars().all(|c| c == '*');
    match pattern.split(':').collect::<Vec<_>>()[..] {
        [arn, partition, service, region, acct, resource] => {
            wildcard_match(arn, "arn")
                && wildcard_match(partition, "aws")
                && wildcard_match(service, "kms")
                && all_star(region)
                && wildcard_match(acct, account)
                && (all_star(resource) || resource.strip_prefix("key/").is_some_and(all_star))
        }
        _ => false,
    }
}

/// Whether an ARN pattern can match no key of `account`: its account or service field is
/// literal and different.
fn misses_every_key(pattern: &str, account: &str) -> bool {
    use super::wildcard::has_wildcard;
    match pattern.split(':').collect::<Vec<_>>()[..] {
        [_, _, service, _, acct, _] => {
            (!has_wildcard(acct) && acct != account) || (!has_wildcard(service) && service != "kms")
        }
        _ => false,
    }
}
