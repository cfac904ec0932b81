//! The rule catalog: one module per rule, each opening with `//! Rule: ID`, holding its
//! [`RuleDef`], its check and its tests; [`RULES`] lists them in catalog order with what each
//! reads ([`Check`]). Helpers that several rules share live in `policy_facts` and `key_facts`,
//! never in a sibling rule's module.

use kmsaudit_model::{AccountRecord, KeyRecord, RegionRecord, RuleInfo, Severity};

pub(crate) use crate::context::Ctx;

mod input;
mod key_facts;
mod outcome;
mod policy_facts;

pub(crate) use input::{with_policy, KeyInput, PolicyInput, PolicyState};
pub(crate) use outcome::{Offense, Outcome, PolicyVerdict};
pub(crate) use policy_facts::{
    allows_anyone, external_parties, iam_policies_enabled, non_root, per_principal,
};

mod aa_analyzer_missing;
mod aa_disagreement;
mod aa_finding_active;
mod access_admin;
mod access_external;
mod access_lockout;
mod access_rcp;
mod access_sod;
mod deletion_scheduled;
mod deletion_window;
mod grant_broad;
mod grant_duplicate;
mod grant_excessive;
mod grant_external;
mod iam_decrypt_all;
mod imported_expiry;
mod key_disabled;
mod monitoring_alert;
mod monitoring_trail;
mod multi_region;
mod policy_admin_allowlist;
mod policy_external;
mod policy_grant_unconstrained;
mod policy_iam_delegation;
mod policy_no_effect;
mod policy_principals_many;
mod policy_public;
mod policy_putpolicy;
mod policy_sod;
mod policy_unparseable;
mod policy_wildcard;
mod rotation_disabled;
mod rotation_period;
mod scan_not_assessed;
mod tags_required;
mod usage_deletion_unguarded;
mod usage_destroy_in_use;
mod usage_unused;

/// A catalog entry as written in a rule module.
pub(crate) struct RuleDef {
    pub id: &'static str,
    pub severity: Severity,
    pub title: &'static str,
    pub rationale: &'static str,
    pub remediation: &'static str,
}

impl RuleDef {
    /// The catalog entry, mapped to every framework.
    pub fn info(&self) -> RuleInfo {
        self.info_for(&[])
    }

    /// The catalog entry, mapped to the `frameworks` chosen (keys; empty: all).
    pub fn info_for(&self, frameworks: &[String]) -> RuleInfo {
        RuleInfo {
            id: self.id.to_string(),
            severity: self.severity,
            title: self.title.to_string(),
            rationale: self.rationale.to_string(),
            remediation: self.remediation.to_string(),
            compliance: crate::compliance::mappings(self.id, frameworks),
        }
    }
}

/// What a rule reads, and so where and how the evaluator runs it.
#[derive(Clone, Copy)]
pub(crate) enum Check {
    /// The key policy's analysis only: shared per (policy, account), and run by lint-policy.
    Policy(fn(&PolicyInput<'_>, &Ctx<'_>) -> PolicyVerdict),
    /// A described customer-managed key: metadata, rotation, grants, tags, policy, analyzers.
    Key(fn(&KeyInput<'_>, &Ctx<'_>) -> Outcome),
    /// A described customer-managed key with its effective access rows (run only when the scan
    /// read IAM).
    Access(fn(&[kmsaudit_model::AccessEntryView<'_>], &KeyInput<'_>, &Ctx<'_>) -> Outcome),
    /// One IAM identity policy where it is used, with the keys it reaches (run only when the
    /// scan read IAM).
    IamPolicy(fn(&crate::effective::PolicyReach, &Ctx<'_>) -> Outcome),
    /// One account (`None`: no verdict there).
    Account(fn(&AccountRecord, &Ctx<'_>) -> Option<Outcome>),
    /// One account × region (`None`: no verdict there).
    Region(fn(&RegionRecord, &Ctx<'_>) -> Option<Outcome>),
    /// One account × region with its account (`None`: no verdict there).
    AccountRegion(fn(&AccountRecord, &RegionRecord, &Ctx<'_>) -> Option<Outcome>),
    /// Whether the scan could read each account, region and key (`None`: nothing to report).
    Reach {
        account: fn(&AccountRecord) -> Outcome,
        region: fn(&RegionRecord) -> Option<Outcome>,
        key: fn(&KeyRecord) -> Option<Outcome>,
    },
}

/// What lint-policy's summary says when a policy rule fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LintFlag {
    Public,
    WildcardAdmin,
    SeparationOfDuties,
}

/// One entry of the catalog: the rule, what it reads, and what its failure means to lint.
pub(crate) struct Rule {
    pub def: &'static RuleDef,
    pub check: Check,
    /// Runs only when the scan queried IAM Access Analyzer.
    pub needs_access_analyzer: bool,
    /// Runs only when the scan read IAM (effective access was computed).
    pub needs_effective_access: bool,
    /// Runs only when the scan read the keys' last use.
    pub needs_last_use: bool,
    /// Runs only when the scan read the accounts' monitoring.
    pub needs_monitoring: bool,
    pub lint_flag: Option<LintFlag>,
}

const fn rule(def: &'static RuleDef, check: Check) -> Rule {
    Rule {
        def,
        check,
        needs_access_analyzer: false,
        needs_effective_access: false,
        needs_last_use: false,
        needs_monitoring: false,
        lint_flag: None,
    }
}

const fn usage_rule(def: &'static RuleDef, check: Check) -> Rule {
    Rule {
        needs_last_use: true,
        ..rule(def, check)
    }
}

const fn monitoring_rule(def: &'static RuleDef, check: Check) -> Rule {
    Rule {
        needs_monitoring: true,
        ..rule(def, check)
    }
}

const fn access_rule(def: &'static RuleDef, check: Check) -> Rule {
    Rule {
        needs_effective_access: true,
        ..rule(def, check)
    }
}

const fn analyzer_rule(def: &'static RuleDef, check: Check) -> Rule {
    Rule {
        needs_access_analyzer: true,
        ..rule(def, check)
    }
}

const fn flagged(def: &'static RuleDef, check: Check, flag: LintFlag) -> Rule {
    Rule {
        lint_flag: Some(flag),
        ..rule(def, check)
    }
}

use Check::{Key, Policy, Region};

/// Every rule, in catalog order.
pub(crate) static RULES: &[Rule] = &[
    flagged(
        &policy_public::RULE,
        Policy(policy_public::check),
        LintFlag::Public,
    ),
    rule(&policy_external::RULE, Policy(policy_external::check)),
    flagged(
        &policy_wildcard::RULE,
        Policy(policy_wildcard::check),
        LintFlag::WildcardAdmin,
    ),
    flagged(
        &policy_sod::RULE,
        Policy(policy_sod::check),
        LintFlag::SeparationOfDuties,
    ),
    rule(
        &policy_admin_allowlist::RULE,
        Policy(policy_admin_allowlist::check),
    ),
    rule(
        &policy_iam_delegation::RULE,
        Policy(policy_iam_delegation::check),
    ),
    rule(&policy_putpolicy::RULE, Policy(policy_putpolicy::check)),
    rule(
        &policy_grant_unconstrained::RULE,
        Policy(policy_grant_unconstrained::check),
    ),
    rule(
        &policy_principals_many::RULE,
        Policy(policy_principals_many::check),
    ),
    rule(&policy_no_effect::RULE, Policy(policy_no_effect::check)),
    rule(&policy_unparseable::RULE, Key(policy_unparseable::check)),
    rule(&rotation_disabled::RULE, Key(rotation_disabled::check)),
    rule(&rotation_period::RULE, Key(rotation_period::check)),
    rule(&deletion_scheduled::RULE, Key(deletion_scheduled::check)),
    rule(&key_disabled::RULE, Key(key_disabled::check)),
    rule(&imported_expiry::RULE, Key(imported_expiry::check)),
    rule(&grant_external::RULE, Key(grant_external::check)),
    rule(&grant_excessive::RULE, Key(grant_excessive::check)),
    rule(&grant_broad::RULE, Key(grant_broad::check)),
    rule(&grant_duplicate::RULE, Key(grant_duplicate::check)),
    rule(&multi_region::RULE, Key(multi_region::check)),
    rule(&tags_required::RULE, Key(tags_required::check)),
    usage_rule(&usage_unused::RULE, Key(usage_unused::check)),
    usage_rule(
        &usage_destroy_in_use::RULE,
        Key(usage_destroy_in_use::check),
    ),
    usage_rule(
        &usage_deletion_unguarded::RULE,
        Key(usage_deletion_unguarded::check),
    ),
    rule(&deletion_window::RULE, Key(deletion_window::check)),
    access_rule(
        &access_external::RULE,
        Check::Access(access_external::check),
    ),
    access_rule(&access_sod::RULE, Check::Access(access_sod::check)),
    access_rule(&access_lockout::RULE, Check::Access(access_lockout::check)),
    access_rule(&access_admin::RULE, Check::Access(access_admin::check)),
    access_rule(&access_rcp::RULE, Check::Account(access_rcp::check)),
    access_rule(
        &iam_decrypt_all::RULE,
        Check::IamPolicy(iam_decrypt_all::check),
    ),
    analyzer_rule(&aa_finding_active::RULE, Key(aa_finding_active::check)),
    analyzer_rule(&aa_disagreement::RULE, Key(aa_disagreement::check)),
    analyzer_rule(
        &aa_analyzer_missing::RULE,
        Region(aa_analyzer_missing::check),
    ),
    monitoring_rule(
        &monitoring_trail::RULE,
        Check::AccountRegion(monitoring_trail::check),
    ),
    monitoring_rule(
        &monitoring_alert::RULE,
        Check::AccountRegion(monitoring_alert::check),
    ),
    rule(
        &scan_not_assessed::RULE,
        Check::Reach {
            account: scan_not_assessed::account,
            region: scan_not_assessed::region,
            key: scan_not_assessed::key,
        },
    ),
];

/// What a scan read besides the keys, which decides the rules that run.
#[derive(Clone, Copy)]
pub(crate) struct ScanReads {
    pub access_analyzer: bool,
    pub effective_access: bool,
    pub last_use: bool,
    pub monitoring: bool,
}

/// The rules that run given what the scan read.
pub(crate) fn active_rules(reads: ScanReads) -> impl Iterator<Item = &'static Rule> {
    RULES
        .iter()
        .filter(move |r| reads.access_analyzer || !r.needs_access_analyzer)
        .filter(move |r| reads.effective_access || !r.needs_effective_access)
        .filter(move |r| reads.last_use || !r.needs_last_use)
        .filter(move |r| reads.monitoring || !r.needs_monitoring)
}

/// The policy rules with their checks, in catalog order.
pub(crate) fn policy_rules() -> impl Iterator<
    Item = (
        &'static Rule,
        fn(&PolicyInput<'_>, &Ctx<'_>) -> PolicyVerdict,
    ),
> {
    RULES.iter().filter_map(|r| match r.check {
        Check::Policy(check) => Some((r, check)),
        _ => None,
    })
}

#[cfg(test)]
pub(crate) mod test_support;

/// The rule that reports a key policy kmsaudit cannot read.
pub(crate) fn unparseable_rule() -> &'static RuleDef {
    &policy_unparseable::RULE
}

/// Every rule definition, in catalog order.
pub(crate) fn catalog() -> impl Iterator<Item = &'static RuleDef> {
    RULES.iter().map(|r| r.def)
}

/// Tidy: the catalog and the rule files agree, every rule documents and tests itself, and no
/// rule borrows from a sibling rule's module.
#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::Path;

    /// The modules of `src/rules` that are the framework, not rules.
    const FRAMEWORK: &[&str] = &[
        "mod",
        "input",
        "outcome",
        "policy_facts",
        "key_facts",
        "test_support",
    ];

    fn rule_files() -> BTreeMap<String, String> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/rules");
        std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "rs"))
            .map(|p| {
                let stem = p.file_stem().unwrap().to_string_lossy().into_owned();
                (stem, std::fs::read_to_string(&p).unwrap())
            })
            .filter(|(stem, _)| !FRAMEWORK.contains(&stem.as_str()))
            .collect()
    }

    /// Rule id → statuses the data corpus (`tests/data/*.toml`) expects of it.
    fn corpus_expectations() -> BTreeMap<String, BTreeSet<String>> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
        let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            let doc: toml::Value = toml::from_str(&text).unwrap();
            for case in doc["case"].as_array().into_iter().flatten() {
                for (rule, status) in case
                    .get("expect")
                    .and_then(|e| e.as_table())
                    .into_iter()
                    .flatten()
                {
                    out.entry(rule.clone())
                        .or_default()
                        .insert(status.as_str().unwrap_or_default().to_string());
                }
            }
        }
        out
    }

    #[test]
    fn the_catalog_and_the_rule_files_agree() {
        let ids: Vec<&str> = super::catalog().map(|r| r.id).collect();
        let unique: BTreeSet<&str> = ids.iter().copied().collect();
        assert_eq!(unique.len(), ids.len(), "rule ids must be unique");
        let files = rule_files();
        let mut documented = BTreeSet::new();
        for (stem, text) in &files {
            let header = text
                .lines()
                .next()
                .and_then(|l| l.strip_prefix("//! Rule: "))
                .unwrap_or_else(|| panic!("src/rules/{stem}.rs does not open with `//! Rule: ID`"));
            assert!(
                unique.contains(header),
                "src/rules/{stem}.rs documents `{header}`, which the catalog (RULES) does not list"
            );
            assert!(documented.insert(header), "`{header}` is documented twice");
        }
        for id in &unique {
            assert!(
                documented.contains(id),
                "no module documents `//! Rule: {id}`"
            );
        }
    }

    #[test]
    fn every_rule_is_explained_and_tested() {
        let corpus = corpus_expectations();
        let files = rule_files();
        for rule in super::catalog() {
            assert!(
                !rule.rationale.is_empty()
                    && !rule.remediation.is_empty()
                    && !crate::compliance::mappings(rule.id, &[]).is_empty(),
                "{} lacks rationale, remediation or mappings",
                rule.id
            );
            let text = files
                .values()
                .find(|t| t.starts_with(&format!("//! Rule: {}\n", rule.id)))
                .unwrap();
            let in_corpus = corpus.get(rule.id).is_some_and(|s| {
                s.contains("FAIL") && (s.contains("PASS") || s.contains("NOT_APPLICABLE"))
            });
            assert!(
                text.contains("#[cfg(test)]") || in_corpus,
                "{} has neither unit tests nor a failing and a passing case in tests/data",
                rule.id
            );
        }
    }

    #[test]
    fn no_policy_rule_needs_access_analyzer() {
        // Policy-rule outcomes are computed once per (policy, account) for every policy rule.
        for (rule, _) in super::policy_rules() {
            assert!(!rule.needs_access_analyzer, "{}", rule.def.id);
        }
    }

    #[test]
    fn rules_do_not_borrow_from_sibling_rules() {
        let files = rule_files();
        for (stem, text) in &files {
            for other in files.keys().filter(|o| *o != stem) {
                for pattern in [format!("super::{other}::"), format!("rules::{other}::")] {
                    assert!(
                        !text.contains(&pattern),
                        "src/rules/{stem}.rs uses `{pattern}`: move what it shares to policy_facts or key_facts"
                    );
                }
            }
        }
    }
}
