//! How far conditions narrow "everyone": the accounts, organizations, network origins and
//! identities a pinned `*` still admits.

use std::collections::{BTreeMap, BTreeSet};

use super::condition::{Pin, Restriction};
use super::wildcard::{has_wildcard, wildcard_match};

/// How far conditions narrow "everyone". All fields empty: anyone at all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reach {
    /// Only callers from these accounts (ids, or narrow wildcard patterns naming a set of them).
    pub accounts: Option<BTreeSet<String>>,
    /// Only callers from these organizations (ids, or narrow wildcard patterns).
    pub orgs: Option<BTreeSet<String>>,
    /// Only callers from this network origin or with this identity, one entry per key.
    pub restricted: BTreeMap<String, Restriction>,
}

impl Reach {
    /// Nothing pins the caller: anyone, in any account.
    pub fn is_anyone(&self) -> bool {
        self.accounts.is_none() && self.orgs.is_none() && self.restricted.is_empty()
    }

    /// The pins contradict each other (`aws:SourceVpce` must be both `a` and `b`): no caller.
    pub fn is_nobody(&self) -> bool {
        self.accounts.as_ref().is_some_and(BTreeSet::is_empty)
            || self.orgs.as_ref().is_some_and(BTreeSet::is_empty)
            || self
                .restricted
                .values()
                .any(|r| r.values.as_ref().is_some_and(BTreeSet::is_empty))
    }

    /// Narrows by one more pin. Pins on one key intersect when their values are literals;
    /// otherwise the first is kept, which can only over-state who is reached, never hide it.
    /// Either way the reach stays as small as the number of distinct keys.
    pub(crate) fn narrow(&mut self, pin: &Pin) {
        match pin {
            Pin::Accounts(a) => {
                self.accounts = Some(match self.accounts.take() {
                    Some(prev) => intersect(&prev, a),
                    None => a.clone(),
                })
            }
            Pin::Orgs(o) => {
                self.orgs = Some(match self.orgs.take() {
                    Some(prev) => intersect(&prev, o),
                    None => o.clone(),
                })
            }
            Pin::Restricted(new) => match self.restricted.get_mut(&new.key) {
                None => {
                    self.restricted.insert(new.key.clone(), new.clone());
                }
                Some(prev) => {
                    if let (Some(have), Some(more)) = (&prev.values, &new.values) {
                        let both: BTreeSet<String> = have.intersection(more).cloned().collect();
                        prev.text = format!(
                            "{} {}",
                            new.key_as_written,
                            both.iter().cloned().collect::<Vec<_>>().join(", ")
                        );
                        prev.values = Some(both);
                    }
                }
            },
        }
    }

    /// The reach in words, for explanations.
    pub fn describe(&self) -> String {
        if self.is_anyone() {
            return "anyone".into();
        }
        let mut parts = Vec::new();
        if let Some(a) = &self.accounts {
            parts.push(format!(
                "accounts {}",
                a.iter().cloned().collect::<Vec<_>>().join(", ")
            ));
        }
        if let Some(o) = &self.orgs {
            parts.push(format!(
                "organization {}",
                o.iter().cloned().collect::<Vec<_>>().join(", ")
            ));
        }
        parts.extend(self.restricted.values().map(|r| r.text.clone()));
        parts.join(" and ")
    }
}

/// Whether a set of ids and narrow wildcard patterns (a pin's accounts or organizations)
/// admits `value`.
pub(crate) fn admits(set: &BTreeSet<String>, value: &str) -> bool {
    set.iter().any(|v| wildcard_match(v, value))
}

/// Wildcard comparisons one intersection may make before it keeps the first set whole.
const MAX_PATTERN_CHECKS: usize = 4096;

/// The values both sets admit. A literal survives when the other side has it or a pattern
/// matching it; of two pattern sets the first is kept (over-stating the set, never hiding a
/// member), and so is the whole first set when hostile sizes would make matching quadratic.
fn intersect(a: &BTreeSet<String>, b: &BTreeSet<String>) -> BTreeSet<String> {
    let (a_pats, a_lits): (Vec<&String>, Vec<&String>) = a.iter().partition(|v| has_wildcard(v));
    let (b_pats, b_lits): (Vec<&String>, Vec<&String>) = b.iter().partition(|v| has_wildcard(v));
    if a_lits.len() * b_pats.len() + b_lits.len() * a_pats.len() > MAX_PATTERN_CHECKS {
        return a.clone();
    }
    let matched_by = |pats: &[&String], v: &str| pats.iter().any(|p| wildcard_match(p, v));
    let mut out: BTreeSet<String> = a_lits
        .iter()
        .filter(|x| b.contains(x.as_str()) || matched_by(&b_pats, x))
        .map(|x| x.to_string())
        .collect();
    out.extend(
        b_lits
            .iter()
            .filter(|y| matched_by(&a_pats, y))
            .map(|y| y.to_string()),
    );
    if !b_pats.is_empty() {
        out.extend(a_pats.iter().map(|p| p.to_string()));
    }
    out
}
