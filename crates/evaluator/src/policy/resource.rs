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
    /// Patterns are matched as IAM matches ARNs (field by field: an alias ARN, another key's
    /// ARN or another account's never covers the key), with policy variables replaced
    /// (`${aws:ResourceAccount}` is the key's account; a variable of the caller makes the
    /// answer unknown; one with no value matches nothing).
    pub fn applies_to(&self, key: KeyScope<'_>, version: Option<&str>) -> Option<bool> {
        let key_account = match key {
            KeyScope::Arn(arn) => kmsaudit_model::arn_account(arn),
            KeyScope::Account(a) => Some(a),
            KeyScope::Unknown => None,
        };
        let mut unknown = false;
        let mut matched = false;
        for raw in &self.patterns {
            if raw == "*" {
                matched = true;
                break;
            }
            let p = if super::variables::has_variables(raw, version) {
                let mut caller_bound = false;
                let resolved = super::variables::resolve(raw, version, |k| {
                    if k == "aws:resourceaccount" {
                        key_account.map(str::to_string)
                    } else {
                        caller_bound = true;
                        None
                    }
                });
                match resolved {
                    Some(p) => p,
                    None if caller_bound => {
                        unknown = true;
                        continue;
                    }
                    None => continue,
                }
            } else {
                raw.clone()
            };
            match key {
                KeyScope::Arn(arn) => {
                    if super::wildcard::arn_match(&p, &super::variables::literal_text(arn)) {
                        matched = true;
                        break;
                    }
                }
                KeyScope::Account(account) => {
                    if covers_every_key(&p, account) {
                        matched = true;
                        break;
                    }
                    if !misses_every_key(&p, account) {
                        unknown = true;
                    }
                }
                KeyScope::Unknown => unknown = true,
            }
        }
        if !matched && unknown {
            return None;
        }
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
/// literal and different, or its resource field cannot start with `key/` (an alias ARN).
fn misses_every_key(pattern: &str, account: &str) -> bool {
    use super::wildcard::{has_wildcard, wildcard_match};
    match pattern.splitn(6, ':').collect::<Vec<_>>()[..] {
        [_, _, service, _, acct, resource] => {
            let fixed = &resource[..resource.find(['*', '?']).unwrap_or(resource.len())];
            let can_be_key = wildcard_match(&format!("{fixed}*"), "key/")
                || fixed.starts_with("key/")
                || resource.starts_with('*');
            (!has_wildcard(acct) && acct != account)
                || (!has_wildcard(service) && service != "kms")
                || !can_be_key
        }
        _ => true,
    }
}
