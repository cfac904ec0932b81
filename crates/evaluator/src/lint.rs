//! `lint-policy`: the policy rules on one policy document, before it is applied.

use serde::Serialize;

use kmsaudit_model::Severity;

use crate::config::EvalConfig;
use crate::policy::{analyze, parse_policy};
use crate::rules::{self, Ctx, PolicyInput, PolicyVerdict, TrustZone, POLICY_RULES};

/// Who the policy is for.
#[derive(Debug, Clone, Default)]
pub struct LintOptions {
    /// The account that owns the key (its root is the IAM delegation principal).
    pub key_account: Option<String>,
    /// Accounts of the organization: inside the trust zone.
    pub org_accounts: Vec<String>,
    pub org_id: Option<String>,
    pub config: EvalConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LintFinding {
    pub rule_id: String,
    pub severity: Severity,
    pub statement_index: Option<usize>,
    pub sid: Option<String>,
    pub principal: Option<String>,
    pub actions: Vec<String>,
    pub explanation: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LintSummary {
    pub public: bool,
    /// Sorted 12-digit account ids outside the organization and trusted accounts.
    pub external_accounts: Vec<String>,
    pub wildcard_admin: bool,
    pub separation_of_duties_violation: bool,
    pub iam_policies_enabled: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LintReport {
    pub findings: Vec<LintFinding>,
    pub summary: LintSummary,
    /// Set when the document is not a policy this tool can read; `findings` then holds the
    /// single KMS-POLICY-UNPARSEABLE finding.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parse_error: Option<String>,
}

/// Runs every policy rule on `text`.
pub fn lint_policy(text: &str, options: &LintOptions) -> LintReport {
    let policy = match parse_policy(text) {
        Ok(p) => p,
        Err(e) => {
            return LintReport {
                findings: vec![LintFinding {
                    rule_id: rules::policy_unparseable::RULE.id.into(),
                    severity: rules::policy_unparseable::RULE.severity,
                    statement_index: None,
                    sid: None,
                    principal: None,
                    actions: vec![],
                    explanation: format!(
                        "The policy could not be parsed: {} at {}",
                        e.message, e.location
                    ),
                }],
                summary: LintSummary::default(),
                parse_error: Some(e.to_string()),
            }
        }
    };
    // The key's ARN is unknown: Allows on any Resource are assumed to apply, Denies only on `*`.
    let analysis = analyze(&policy, None);
    let ctx = Ctx {
        config: &options.config,
        zone: TrustZone {
            org_id: options.org_id.clone(),
            org_accounts: options.org_accounts.iter().cloned().collect(),
            trusted_accounts: options.config.trusted_accounts.iter().cloned().collect(),
        },
        now: jiff::Timestamp::UNIX_EPOCH,
        org_analyzer_regions: Default::default(),
        aa_findings: Default::default(),
    };
    let input = PolicyInput {
        analysis: &analysis,
        key_account: options.key_account.as_deref(),
    };
    let mut findings = Vec::new();
    let mut failing = std::collections::BTreeSet::new();
    for rule in POLICY_RULES {
        if let PolicyVerdict::Offenses(offenses, _) = (rule.check)(&input, &ctx) {
            if !offenses.is_empty() {
                failing.insert(rule.def.id);
            }
            findings.extend(offenses.into_iter().map(|o| LintFinding {
                rule_id: rule.def.id.into(),
                severity: rule.def.severity,
                statement_index: o.statement_index,
                sid: o.sid,
                principal: o.principal,
                actions: o.actions,
                explanation: o.explanation,
            }));
        }
    }
    let external_accounts = rules::policy_external::external_parties_in(&input, &ctx.zone)
        .into_iter()
        .filter(|p| crate::policy_is_account_id(p))
        .collect();
    let summary = LintSummary {
        public: failing.contains("KMS-POLICY-PUBLIC"),
        external_accounts,
        wildcard_admin: failing.contains("KMS-POLICY-WILDCARD"),
        separation_of_duties_violation: failing.contains("KMS-POLICY-SOD"),
        iam_policies_enabled: rules::policy_iam_delegation::iam_policies_enabled(&input),
    };
    LintReport {
        findings,
        summary,
        parse_error: None,
    }
}
