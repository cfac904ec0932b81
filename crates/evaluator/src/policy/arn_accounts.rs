//! What conditions on `aws:PrincipalArn` say together about the caller's account. One
//! condition can fix every field of the ARN but the account (`ArnLike arn:aws:iam::*:role/Partner`)
//! while another, alone, pins nothing (`StringLike arn:aws:iam:*:111122223333:role/*`: its `*`
//! spans colons, and IAM paths may hold them). Conditions of one block are ANDed, so the
//! accounts whose ARN both accept are what the statement admits.

use std::collections::BTreeSet;

use super::condition::{BaseOperator, Condition, SetQualifier};
use super::parse::Statement;
use super::wildcard::{has_wildcard, wildcard_match};

/// At most this many accounts are named before a pattern counts as admitting any account.
const MAX_ACCOUNTS: usize = 64;
/// Patterns longer than this are not analysed (they admit any account: over-stated, never hidden).
const MAX_PATTERN: usize = 512;

/// An ARN fixed in every field but the account.
struct Template<'a> {
    /// `arn:partition:service:region:`
    prefix: String,
    /// `:resource`
    suffix: String,
    /// The account as written: `*`, or one account.
    account: &'a str,
}

/// The accounts a set of values admits: any, or these.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Admitted {
    Any,
    Only(BTreeSet<String>),
}

impl Admitted {
    fn union(self, other: Admitted) -> Admitted {
        match (self, other) {
            (Admitted::Only(mut a), Admitted::Only(b)) if a.len() + b.len() <= MAX_ACCOUNTS => {
                a.extend(b);
                Admitted::Only(a)
            }
            _ => Admitted::Any,
        }
    }
}

/// A positive condition on `aws:PrincipalArn` every request has (the key is always present).
fn on_principal_arn(c: &Condition) -> bool {
    c.key == "aws:principalarn"
        && c.operator.base.is_positive_match()
        && c.operator.set != SetQualifier::ForAllValues
        && !c.values.iter().any(|v| v.contains("${"))
}

/// The first ARN condition whose every value is fixed but for its account field.
fn templates(st: &Statement) -> Option<(usize, Vec<Template<'_>>)> {
    st.conditions.iter().enumerate().find_map(|(i, c)| {
        if !on_principal_arn(c) || !c.operator.base.is_arn() {
            return None;
        }
        let parsed: Option<Vec<Template<'_>>> = c
            .values
            .iter()
            .map(|v| {
                let f: Vec<&str> = v.splitn(6, ':').collect();
                let [arn, partition, service, region, account, resource] = f[..] else {
                    return None;
                };
                let fixed = [arn, partition, service, region, resource]
                    .iter()
                    .all(|f| !has_wildcard(f));
                (fixed && (account == "*" || !has_wildcard(account))).then(|| Template {
                    prefix: format!("{arn}:{partition}:{service}:{region}:"),
                    suffix: format!(":{resource}"),
                    account,
                })
            })
            .collect();
        parsed.map(|t| (i, t))
    })
}

/// The accounts whose ARN, by `template`, condition `c` accepts.
fn admitted_by(c: &Condition, t: &Template<'_>) -> Admitted {
    let mut out = Admitted::Only(BTreeSet::new());
    for v in &c.values {
        let one = match c.operator.base {
            BaseOperator::StringLike => accounts_matching(v, &t.prefix, &t.suffix),
            BaseOperator::StringEquals => literal_account(v, t, false),
            BaseOperator::StringEqualsIgnoreCase => literal_account(v, t, true),
            BaseOperator::ArnLike | BaseOperator::ArnEquals => {
                let (vf, tf): (Vec<&str>, Vec<String>) = (
                    v.splitn(6, ':').collect(),
                    format!("{}A{}", t.prefix, t.suffix)
                        .splitn(6, ':')
                        .map(str::to_string)
                        .collect(),
                );
                if vf.len() != 6 || tf.len() != 6 {
                    Admitted::Only(BTreeSet::new())
                } else if (0..6)
                    .filter(|&i| i != 4)
                    .all(|i| wildcard_match(vf[i], &tf[i]))
                {
                    accounts_matching(vf[4], "", "")
                } else {
                    Admitted::Only(BTreeSet::new())
                }
            }
            _ => Admitted::Any,
        };
        out = out.union(one);
    }
    out
}

fn literal_account(v: &str, t: &Template<'_>, ignore_case: bool) -> Admitted {
    let cut = |s: &str, prefix: &str, suffix: &str| -> Option<String> {
        if s.len() < prefix.len() + suffix.len() || !s.is_char_boundary(prefix.len()) {
            return None;
        }
        let (head, rest) = s.split_at(prefix.len());
        let split = rest.len().checked_sub(suffix.len())?;
        if !rest.is_char_boundary(split) {
            return None;
        }
        let (middle, tail) = rest.split_at(split);
        let same = |a: &str, b: &str| {
            if ignore_case {
                a.eq_ignore_ascii_case(b)
            } else {
                a == b
            }
        };
        (same(head, prefix) && same(tail, suffix)).then(|| middle.to_string())
    };
    Admitted::Only(cut(v, &t.prefix, &t.suffix).into_iter().collect())
}

/// What the ARN conditions of `st` admit, for each template value: `None` when no condition
/// fixes the ARN but for its account.
fn admitted_per_template(st: &Statement) -> Option<Vec<(String, String, Admitted)>> {
    let (index, templates) = templates(st)?;
    Some(
        templates
            .iter()
            .map(|t| {
                let mut admitted = if t.account == "*" {
                    Admitted::Any
                } else {
                    Admitted::Only([t.account.to_string()].into())
                };
                for (i, c) in st.conditions.iter().enumerate() {
                    if i == index || !on_principal_arn(c) {
                        continue;
                    }
                    admitted = match (admitted, admitted_by(c, t)) {
                        (Admitted::Any, other) | (other, Admitted::Any) => other,
                        (Admitted::Only(a), Admitted::Only(b)) => {
                            Admitted::Only(a.intersection(&b).cloned().collect())
                        }
                    };
                }
                (t.prefix.clone(), t.suffix.clone(), admitted)
            })
            .collect(),
    )
}

/// The accounts a caller's ARN can be in, when the statement's `aws:PrincipalArn` conditions
/// together name a few: one of them fixes every field but the account, the others narrow it.
/// `None`: they admit any account (or no condition fixes the rest of the ARN).
pub(super) fn principal_arn_accounts(st: &Statement) -> Option<BTreeSet<String>> {
    let mut all = Admitted::Only(BTreeSet::new());
    for (_, _, admitted) in admitted_per_template(st)? {
        all = all.union(admitted);
    }
    match all {
        Admitted::Any => None,
        Admitted::Only(set) => Some(set),
    }
}

/// For a caller of `account`: the ARNs the statement's `aws:PrincipalArn` conditions leave it
/// (empty: none fits), when one of them fixes every field but the account. `None`: not fixed.
pub(super) fn principal_arns_in(st: &Statement, account: &str) -> Option<Vec<String>> {
    let admitted = admitted_per_template(st)?;
    Some(
        admitted
            .into_iter()
            .filter(|(_, _, a)| match a {
                Admitted::Any => true,
                Admitted::Only(set) => set.contains(account),
            })
            .map(|(prefix, suffix, _)| format!("{prefix}{account}{suffix}"))
            .collect(),
    )
}

/// The twelve-digit accounts `A` for which `pattern` (IAM's `*` and `?`) matches
/// `prefix + A + suffix`; [`Admitted::Any`] when that is more than a few, or not a list of
/// literal accounts (a `*` or `?` stands for some of its digits).
fn accounts_matching(pattern: &str, prefix: &str, suffix: &str) -> Admitted {
    let p = pattern.as_bytes();
    if p.len() > MAX_PATTERN {
        return Admitted::Any;
    }
    // A digit the pattern does not name stands for every such digit: an account that needs it
    // is one of many.
    let named: Vec<u8> = (b'0'..=b'9').filter(|d| p.contains(d)).collect();
    let other = (b'0'..=b'9').find(|d| !p.contains(d));
    let start = step_all(p, closure(p, vec![0]), prefix.as_bytes());
    let mut found = BTreeSet::new();
    let mut dead = std::collections::HashSet::new();
    let mut digits = Vec::with_capacity(12);
    let mut search = Search {
        p,
        named: &named,
        other,
        suffix: suffix.as_bytes(),
        found: &mut found,
        dead: &mut dead,
    };
    match search.walk(start, &mut digits) {
        Ok(_) => Admitted::Only(found),
        Err(()) => Admitted::Any,
    }
}

struct Search<'a> {
    p: &'a [u8],
    named: &'a [u8],
    other: Option<u8>,
    suffix: &'a [u8],
    found: &'a mut BTreeSet<String>,
    dead: &'a mut std::collections::HashSet<(usize, Vec<usize>)>,
}

impl Search<'_> {
    /// Extends `digits` by every digit that keeps a match possible. `Ok(true)`: some account
    /// was found below; `Err`: the answer is "any" (a digit not named, or too many).
    fn walk(&mut self, states: Vec<usize>, digits: &mut Vec<u8>) -> Result<bool, ()> {
        if states.is_empty() {
            return Ok(false);
        }
        if digits.len() == 12 {
            let end = step_all(self.p, states, self.suffix);
            if !end.contains(&self.p.len()) {
                return Ok(false);
            }
            if self.found.len() >= MAX_ACCOUNTS {
                return Err(());
            }
            self.found
                .insert(String::from_utf8_lossy(digits).into_owned());
            return Ok(true);
        }
        let memo = (digits.len(), states.clone());
        if self.dead.contains(&memo) {
            return Ok(false);
        }
        let mut any = false;
        if let Some(d) = self.other {
            let next = step(self.p, &states, d);
            digits.push(d);
            let found = self.walk(next, digits)?;
            digits.pop();
            if found {
                return Err(());
            }
        }
        for &d in self.named {
            let next = step(self.p, &states, d);
            digits.push(d);
            any |= self.walk(next, digits)?;
            digits.pop();
        }
        if !any {
            self.dead.insert(memo);
        }
        Ok(any)
    }
}

/// The pattern positions reachable from `states` without reading: past each `*`.
fn closure(p: &[u8], mut states: Vec<usize>) -> Vec<usize> {
    let mut i = 0;
    while i < states.len() {
        let s = states[i];
        if s < p.len() && p[s] == b'*' && !states.contains(&(s + 1)) {
            states.push(s + 1);
        }
        i += 1;
    }
    states.sort_unstable();
    states.dedup();
    states
}

fn step(p: &[u8], states: &[usize], c: u8) -> Vec<usize> {
    let mut next = Vec::new();
    for &s in states {
        if s < p.len() {
            match p[s] {
                b'*' => next.push(s),
                b'?' => next.push(s + 1),
                x if x == c => next.push(s + 1),
                _ => {}
            }
        }
    }
    closure(p, next)
}

fn step_all(p: &[u8], mut states: Vec<usize>, text: &[u8]) -> Vec<usize> {
    for &c in text {
        if states.is_empty() {
            break;
        }
        states = step(p, &states, c);
    }
    states
}

#[cfg(test)]
mod tests {
    use super::*;

    fn only(accounts: &[&str]) -> Admitted {
        Admitted::Only(accounts.iter().map(|a| a.to_string()).collect())
    }

    #[test]
    fn a_colon_spanning_star_is_pinned_by_a_fixed_resource() {
        let (pre, suf) = ("arn:aws:iam::", ":role/Partner");
        assert_eq!(
            accounts_matching("arn:aws:iam:*:111122223333:role/*", pre, suf),
            only(&["111122223333"])
        );
        assert_eq!(
            accounts_matching("arn:aws:iam:*:9999888877*:role/*", pre, suf),
            Admitted::Any,
            "a star over two digits admits a hundred accounts"
        );
        assert_eq!(
            accounts_matching("arn:aws:iam:*1:role/*", pre, suf),
            Admitted::Any
        );
        assert_eq!(
            accounts_matching("arn:aws:iam:*:role/Other", pre, suf),
            only(&[])
        );
        assert_eq!(
            accounts_matching("arn:aws:iam::11112222333?:role/Partner", pre, suf),
            Admitted::Any
        );
        assert_eq!(accounts_matching("*", pre, suf), Admitted::Any);
    }

    #[test]
    fn hostile_patterns_stay_cheap() {
        let p = "*1*1*1*1*1*1*1*1*1*1*1*1*1*1*1*1*1*1*1*1*1*1*1*1*";
        let t = std::time::Instant::now();
        let _ = accounts_matching(p, "arn:aws:iam::", ":role/x");
        assert!(t.elapsed().as_secs() < 2);
    }
}
