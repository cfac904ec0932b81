//! The rule catalog: one module per rule, each with its [`RuleDef`] and its check.
//!
//! Three shapes of rule:
//! * policy rules read only the key policy analysis (they also power `lint-policy`),
//! * key rules read the key's metadata, rotation, grants, tags and Access Analyzer findings,
//! * scope rules (SCAN-NOT-ASSESSED, AA-ANALYZER-MISSING) judge accounts and regions.

use std::collections::{BTreeMap, BTreeSet};

use kmsaudit_model::{
    AccessAnalyzerRecord, Evidence, KeyMetadata, KeyRecord, RuleInfo, Severity, Status,
};

use crate::config::EvalConfig;
use crate::policy::{Access, Analysis, PolicyError, Reach, Who};

pub(crate) mod aa_analyzer_missing;
pub(crate) mod aa_disagreement;
pub(crate) mod aa_finding_active;
pub(crate) mod deletion_scheduled;
pub(crate) mod grant_broad;
pub(crate) mod grant_duplicate;
pub(crate) mod grant_excessive;
pub(crate) mod grant_external;
pub(crate) mod imported_expiry;
pub(crate) mod key_disabled;
pub(crate) mod multi_region;
pub(crate) mod policy_admin_allowlist;
pub(crate) mod policy_external;
pub(crate) mod policy_grant_unconstrained;
pub(crate) mod policy_iam_delegation;
pub(crate) mod policy_principals_many;
pub(crate) mod policy_public;
pub(crate) mod policy_putpolicy;
pub(crate) mod policy_sod;
pub(crate) mod policy_unparseable;
pub(crate) mod policy_wildcard;
pub(crate) mod rotation_disabled;
pub(crate) mod rotation_period;
pub(crate) mod scan_not_assessed;
pub(crate) mod tags_required;

/// A catalog entry as written in a rule module.
pub(crate) struct RuleDef {
    pub id: &'static str,
    pub severity: Severity,
    pub title: &'static str,
    pub rationale: &'static str,
    pub remediation: &'static str,
    pub compliance: &'static [(&'static str, &'static [&'static str])],
}

impl RuleDef {
    pub fn info(&self) -> RuleInfo {
        RuleInfo {
            id: self.id.to_string(),
            severity: self.severity,
            title: self.title.to_string(),
            rationale: self.rationale.to_string(),
            remediation: self.remediation.to_string(),
            compliance: self
                .compliance
                .iter()
                .map(|(fw, ids)| (fw.to_string(), ids.iter().map(|s| s.to_string()).collect()))
                .collect::<BTreeMap<_, _>>(),
        }
    }
}

/// One offending statement × principal of a policy rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offense {
    pub statement_index: Option<usize>,
    pub sid: Option<String>,
    pub principal: Option<String>,
    pub actions: Vec<String>,
    pub condition: Option<String>,
    /// One human sentence.
    pub explanation: String,
}

impl Offense {
    pub(crate) fn from_access(a: &Access, explanation: String) -> Offense {
        Offense {
            statement_index: Some(a.statement_index),
            sid: a.sid.clone(),
            principal: Some(a.who.describe()),
            actions: a.actions.names(),
            condition: a.condition_text(),
            explanation,
        }
    }
}

/// A rule's verdict on one resource, before it becomes a `Finding`.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    pub status: Status,
    pub message: String,
    pub evidence: Evidence,
    /// Some rules raise their severity for the worse case they found.
    pub severity: Option<Severity>,
}

impl Outcome {
    pub fn pass(message: impl Into<String>) -> Outcome {
        Outcome {
            status: Status::Pass,
            message: message.into(),
            evidence: Evidence::default(),
            severity: None,
        }
    }
    pub fn fail(message: impl Into<String>, evidence: Evidence) -> Outcome {
        Outcome {
            status: Status::Fail,
            message: message.into(),
            evidence,
            severity: None,
        }
    }
    pub fn not_applicable(message: impl Into<String>) -> Outcome {
        Outcome {
            status: Status::NotApplicable,
            message: message.into(),
            evidence: Evidence::default(),
            severity: None,
        }
    }
    pub fn not_assessed(message: impl Into<String>) -> Outcome {
        Outcome {
            status: Status::NotAssessed,
            message: message.into(),
            evidence: Evidence::default(),
            severity: None,
        }
    }
    pub fn with_evidence(mut self, evidence: Evidence) -> Outcome {
        self.evidence = evidence;
        self
    }

    /// PASS when there is no offense, else FAIL led by the first offense.
    pub fn from_offenses(offenses: &[Offense], pass_message: &str) -> Outcome {
        let Some(first) = offenses.first() else {
            return Outcome::pass(pass_message);
        };
        let message = if offenses.len() > 1 {
            format!("{} (and {} more)", first.explanation, offenses.len() - 1)
        } else {
            first.explanation.clone()
        };
        let evidence = Evidence {
            statement_index: first.statement_index,
            sid: first.sid.clone(),
            principal: first.principal.clone(),
            actions: first.actions.clone(),
            condition: first.condition.clone(),
            details: BTreeMap::new(),
        };
        Outcome::fail(message, evidence)
    }
}

/// Which accounts count as "inside": the organization, the trusted accounts, the key's own.
#[derive(Debug, Clone, Default)]
pub struct TrustZone {
    pub org_id: Option<String>,
    pub org_accounts: BTreeSet<String>,
    pub trusted_accounts: BTreeSet<String>,
}

impl TrustZone {
    pub fn is_inside(&self, account: &str, key_account: Option<&str>) -> bool {
        key_account == Some(account)
            || self.org_accounts.contains(account)
            || self.trusted_accounts.contains(account)
    }

    pub fn is_own_org(&self, org: &str) -> bool {
        self.org_id.as_deref() == Some(org)
    }

    /// Accounts (or organizations) outside the zone that `reach` admits; empty when `reach`
    /// admits nobody outside. `reach` must not be "anyone" (that is public, judged apart).
    pub fn outside_of_reach(&self, reach: &Reach, key_account: Option<&str>) -> Vec<String> {
        if let Some(orgs) = &reach.orgs {
            if orgs.iter().all(|o| self.is_own_org(o)) {
                return vec![];
            }
        }
        if let Some(accounts) = &reach.accounts {
            return accounts
                .iter()
                .filter(|a| !self.is_inside(a, key_account))
                .cloned()
                .collect();
        }
        match &reach.orgs {
            Some(orgs) => orgs
                .iter()
                .filter(|o| !self.is_own_org(o))
                .map(|o| format!("organization {o}"))
                .collect(),
            // Network or identity pins only: not public, and no account we can name.
            None => vec![],
        }
    }
}

/// The key policy of one key, as far as it could be read.
pub(crate) enum PolicyState {
    Analyzed(Analysis),
    Unparseable(PolicyError),
    /// Not read: why.
    Unread(String),
}

/// What a policy rule sees: the analysis plus who the key belongs to.
pub(crate) struct PolicyInput<'a> {
    pub analysis: &'a Analysis,
    pub key_account: Option<&'a str>,
}

/// Evaluation-wide inputs.
pub(crate) struct Ctx<'a> {
    pub config: &'a EvalConfig,
    pub zone: TrustZone,
    /// "Now" of the evaluation: the scan's start time, never the clock.
    pub now: jiff::Timestamp,
    /// Regions where an active organization analyzer exists anywhere in the org.
    pub org_analyzer_regions: BTreeSet<String>,
    /// Active Access Analyzer findings by key ARN, from every account of the snapshot.
    pub aa_findings: BTreeMap<String, Vec<kmsaudit_model::AnalyzerFinding>>,
}

/// What a key rule sees.
pub(crate) struct KeyInput<'a> {
    pub key: &'a KeyRecord,
    pub meta: &'a KeyMetadata,
    pub region: &'a str,
    pub policy: &'a PolicyState,
    pub access_analyzer: Option<&'a AccessAnalyzerRecord>,
}

impl KeyInput<'_> {
    /// The policy analysis, when it could be done.
    pub fn policy_analysis(&self) -> Option<&Analysis> {
        match self.policy {
            PolicyState::Analyzed(analysis) => Some(analysis),
            _ => None,
        }
    }
}

/// Runs a policy rule on a key's policy, or explains why it cannot.
pub(crate) fn with_policy(
    state: &PolicyState,
    key_account: &str,
    f: impl FnOnce(&PolicyInput<'_>) -> Outcome,
) -> Outcome {
    match state {
        PolicyState::Analyzed(analysis) => f(&PolicyInput {
            analysis,
            key_account: Some(key_account),
        }),
        PolicyState::Unparseable(e) => {
            Outcome::not_assessed(format!("the key policy could not be parsed: {e}"))
        }
        PolicyState::Unread(why) => Outcome::not_assessed(why.clone()),
    }
}

/// A policy rule: the offenses it finds in one policy.
pub(crate) struct PolicyRule {
    pub def: &'static RuleDef,
    pub check: fn(&PolicyInput<'_>, &Ctx<'_>) -> PolicyVerdict,
}

/// A policy rule's answer: offenses, or "does not apply" (e.g. no allowlist configured).
pub(crate) enum PolicyVerdict {
    Offenses(Vec<Offense>, &'static str),
    NotApplicable(String),
}

impl PolicyVerdict {
    pub fn into_outcome(self) -> Outcome {
        match self {
            PolicyVerdict::Offenses(o, pass) => Outcome::from_offenses(&o, pass),
            PolicyVerdict::NotApplicable(why) => Outcome::not_applicable(why),
        }
    }
}

/// A key rule.
pub(crate) struct KeyRule {
    pub def: &'static RuleDef,
    pub check: fn(&KeyInput<'_>, &Ctx<'_>) -> Outcome,
}

pub(crate) const POLICY_RULES: &[PolicyRule] = &[
    PolicyRule {
        def: &policy_public::RULE,
        check: policy_public::check,
    },
    PolicyRule {
        def: &policy_external::RULE,
        check: policy_external::check,
    },
    PolicyRule {
        def: &policy_wildcard::RULE,
        check: policy_wildcard::check,
    },
    PolicyRule {
        def: &policy_sod::RULE,
        check: policy_sod::check,
    },
    PolicyRule {
        def: &policy_admin_allowlist::RULE,
        check: policy_admin_allowlist::check,
    },
    PolicyRule {
        def: &policy_iam_delegation::RULE,
        check: policy_iam_delegation::check,
    },
    PolicyRule {
        def: &policy_putpolicy::RULE,
        check: policy_putpolicy::check,
    },
    PolicyRule {
        def: &policy_grant_unconstrained::RULE,
        check: policy_grant_unconstrained::check,
    },
    PolicyRule {
        def: &policy_principals_many::RULE,
        check: policy_principals_many::check,
    },
];

pub(crate) const KEY_RULES: &[KeyRule] = &[
    KeyRule {
        def: &policy_unparseable::RULE,
        check: policy_unparseable::check,
    },
    KeyRule {
        def: &rotation_disabled::RULE,
        check: rotation_disabled::check,
    },
    KeyRule {
        def: &rotation_period::RULE,
        check: rotation_period::check,
    },
    KeyRule {
        def: &deletion_scheduled::RULE,
        check: deletion_scheduled::check,
    },
    KeyRule {
        def: &key_disabled::RULE,
        check: key_disabled::check,
    },
    KeyRule {
        def: &imported_expiry::RULE,
        check: imported_expiry::check,
    },
    KeyRule {
        def: &grant_external::RULE,
        check: grant_external::check,
    },
    KeyRule {
        def: &grant_excessive::RULE,
        check: grant_excessive::check,
    },
    KeyRule {
        def: &grant_broad::RULE,
        check: grant_broad::check,
    },
    KeyRule {
        def: &grant_duplicate::RULE,
        check: grant_duplicate::check,
    },
    KeyRule {
        def: &multi_region::RULE,
        check: multi_region::check,
    },
    KeyRule {
        def: &tags_required::RULE,
        check: tags_required::check,
    },
    KeyRule {
        def: &aa_finding_active::RULE,
        check: aa_finding_active::check,
    },
    KeyRule {
        def: &aa_disagreement::RULE,
        check: aa_disagreement::check,
    },
];

/// Every rule of the catalog, in catalog order.
pub(crate) fn catalog() -> Vec<&'static RuleDef> {
    let mut all: Vec<&'static RuleDef> = POLICY_RULES.iter().map(|r| r.def).collect();
    all.extend(KEY_RULES.iter().map(|r| r.def));
    all.push(&aa_analyzer_missing::RULE);
    all.push(&scan_not_assessed::RULE);
    all
}

/// Accesses that are not the key account's own root (which stands for IAM delegation).
pub(crate) fn non_root<'a>(input: &'a PolicyInput<'_>) -> impl Iterator<Item = &'a Access> {
    let key_account = input.key_account;
    input
        .analysis
        .accesses
        .iter()
        .filter(move |a| !a.who.is_account_root(key_account))
}

/// Groups accesses per principal (statements naming the same principal add up).
pub(crate) fn per_principal<'a>(
    accesses: impl Iterator<Item = &'a Access>,
) -> BTreeMap<String, Vec<&'a Access>> {
    let mut out: BTreeMap<String, Vec<&Access>> = BTreeMap::new();
    for a in accesses {
        let mut name = a.who.describe();
        if !a.userids.is_empty() && matches!(a.who, Who::Everyone { .. }) {
            name = format!("{name} (aws:userid {})", a.userids.join(", "));
        }
        out.entry(name).or_default().push(a);
    }
    out
}

#[cfg(test)]
pub(crate) mod test_support;

/// Tidy: the catalog is whole and every rule module documents and tests itself.
#[cfg(test)]
mod catalog_tests {
    #[test]
    fn every_rule_has_a_documented_tested_module() {
        let catalog = super::catalog();
        let mut ids: Vec<&str> = catalog.iter().map(|r| r.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), catalog.len(), "rule ids must be unique");
        assert_eq!(catalog.len(), 25);
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/rules");
        for rule in &catalog {
            let found = std::fs::read_dir(&dir)
                .unwrap()
                .filter_map(|e| std::fs::read_to_string(e.unwrap().path()).ok())
                .find(|text| text.contains(&format!("//! Rule: {}\n", rule.id)));
            let text =
                found.unwrap_or_else(|| panic!("no module documents `//! Rule: {}`", rule.id));
            assert!(text.contains("#[cfg(test)]"), "{} has no tests", rule.id);
            assert!(
                !rule.rationale.is_empty()
                    && !rule.remediation.is_empty()
                    && !rule.compliance.is_empty(),
                "{} lacks rationale, remediation or mappings",
                rule.id
            );
        }
    }
}
