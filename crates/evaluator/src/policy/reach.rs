//! How far conditions narrow "everyone": the accounts, organizations, network origins and
//! identities a pinned `*` still admits.

use std::collections::{BTreeMap, BTreeSet};

use super::condition::{Pin, Restriction};

/// How far conditions narrow "everyone". All fields empty: anyone at all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reach {
    /// Only callers from these accounts.
    pub accounts: Option<BTreeSet<String>>,
    /// Only callers from these organizations.
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
                    Some(prev) => prev.intersection(a).cloned().collect(),
                    None => a.clone(),
                })
            }
            Pin::Orgs(o) => {
                self.orgs = Some(match self.orgs.take() {
                    Some(prev) => prev.intersection(o).cloned().collect(),
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
