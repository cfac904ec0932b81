//! `lint-policy`: the policy rules on one policy document, before it is applied.

use serde::Serialize;

use kmsaudit_model::Severity;

use crate::config::EvalConfig;
use crate::context::{Ctx, Party, TrustZone};
use crate::policy::{analyze_in, parse_policy, Analysis, AnalysisEnv, KeyScope};
use crate::rules::{self, LintFlag, PolicyInput, PolicyVerdict, RuleDef};

/// Who the policy is for.
#[derive(Debug, Clone, Default)]
pub struct LintOptions {
    /// The account that owns the key (its root is the IAM delegation principal); taken from
    /// `key_arn` when not given.
    pub key_account: Option<String>,
    /// The key the policy is for: statements scoped to ARN patterns apply exactly as in a scan.
    /// Unknown, an Allow on any Resource is assumed to apply, and a Deny only on `*` or, with
    /// `key_account`, on a pattern matching every key of that account in every region.
    pub key_arn: Option<String>,
    /// Accounts of the organization: inside the trust zone.
    pub org_accounts: Vec<String>,
    pub org_id: Option<String>,
    pub config: EvalConfig,
    /// "Now" for time conditions (`aws:CurrentTime`, `aws:EpochTime`): the CLI passes the
    /// clock's time (the evaluator reads no clock). Unknown, a time window counts as open.
    pub now: Option<kmsaudit_model::Timestamp>,
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
    /// Rules that found nothing but cannot pass, because a statement that may allow access could
    /// not be read (`rule: reason`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_assessed: Vec<String>,
    /// What the analysis assumed or left out (closed or future time windows, statements assumed
    /// to cover a key whose ARN is unknown, principals of another partition).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// The account the key was taken to belong to, if known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_account: Option<String>,
    /// Where `key_account` came from: `given`, `key ARN`, `inferred: root granted` or
    /// `inferred: most frequent account`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_account_source: Option<String>,
}

/// The key's account read from the policy itself: the account whose root (or the account id
/// alone) an Allow statement names, the most often named if several; else the account most
/// often named by any principal ARN. A key policy nearly always grants its own account's root.
fn infer_key_account(policy: &crate::policy::Policy) -> Option<(String, &'static str)> {
    use crate::policy::{Effect, Principal, PrincipalSpec};
    let mut roots: Vec<(String, usize)> = Vec::new();
    let mut named: Vec<(String, usize)> = Vec::new();
    let count = |list: &mut Vec<(String, usize)>, account: &str| match list
        .iter_mut()
        .find(|(a, _)| a == account)
    {
        Some((_, n)) => *n += 1,
        None => list.push((account.to_string(), 1)),
    };
    for st in policy
        .statements
        .iter()
        .filter(|s| s.effect == Effect::Allow)
    {
        let PrincipalSpec::Principal(list) = &st.principals else {
            continue;
        };
        for p in list {
            match p {
                Principal::Account(a) => {
                    count(&mut roots, a);
                    count(&mut named, a);
                }
                Principal::Identity {
                    account: Some(a), ..
                } => count(&mut named, a),
                _ => {}
            }
        }
    }
    // The most named; the first named among equals.
    let most = |list: Vec<(String, usize)>| {
        let max = list.iter().map(|(_, n)| *n).max()?;
        list.into_iter().find(|(_, n)| *n == max).map(|(a, _)| a)
    };
    most(roots)
        .map(|a| (a, "inferred: root granted"))
        .or_else(|| most(named).map(|a| (a, "inferred: most frequent account")))
}

/// Runs every policy rule on `text`.
pub fn lint_policy(text: &str, options: &LintOptions) -> LintReport {
    lint_analysed(text, options).0
}

/// [`lint_policy`], with the analysis it was made from (`None` when the text does not parse).
pub(crate) fn lint_analysed(text: &str, options: &LintOptions) -> (LintReport, Option<Analysis>) {
    let policy = match parse_policy(text) {
        Ok(p) => p,
        Err(e) => {
            let def: &RuleDef = rules::unparseable_rule();
            let report = LintReport {
                findings: vec![LintFinding {
                    rule_id: def.id.into(),
                    severity: def.severity,
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
                not_assessed: vec![],
                notes: vec![],
                key_account: options.key_account.clone(),
                key_account_source: options.key_account.as_ref().map(|_| "given".into()),
            };
            return (report, None);
        }
    };
    let inferred = infer_key_account(&policy);
    let (key_account, key_account_source) = match (&options.key_account, &options.key_arn) {
        (Some(a), _) => (Some(a.as_str()), Some("given")),
        (None, Some(arn)) => (kmsaudit_model::arn_account(arn), Some("key ARN")),
        (None, None) => match &inferred {
            Some((a, how)) => (Some(a.as_str()), Some(*how)),
            None => (None, None),
        },
    };
    let scope = match (options.key_arn.as_deref(), key_account) {
        (Some(arn), _) => KeyScope::Arn(arn),
        (None, Some(account)) => KeyScope::Account(account),
        (None, None) => KeyScope::Unknown,
    };
    let analysis = analyze_in(
        &policy,
        &AnalysisEnv {
            key: scope,
            key_org: options.org_id.as_deref(),
            now: options.now,
        },
    );
    let zone = TrustZone::new(
        options.org_id.clone(),
        options.org_accounts.iter().cloned(),
        &options.config,
    );
    // No rule a policy is linted with reads the time.
    let ctx = Ctx::new(&options.config, zone, kmsaudit_model::Timestamp::UNIX_EPOCH);
    let input = PolicyInput {
        analysis: &analysis,
        key_account,
    };
    let mut findings = Vec::new();
    let mut summary = LintSummary {
        external_accounts: rules::external_parties(&input, &ctx.zone)
            .into_iter()
            .filter_map(|p| match p {
                Party::Account(a) => Some(a),
                _ => None,
            })
            .collect(),
        iam_policies_enabled: rules::iam_policies_enabled(&input),
        ..Default::default()
    };
    let unparseable = rules::unparseable_rule();
    let invalid = analysis
        .refused_by_kms
        .iter()
        .map(|why| (None, format!("KMS would refuse the policy: {why}")));
    let invalid = invalid.chain(analysis.invalid.iter().map(|st| {
        (
            Some(st.index),
            format!(
                "{}; the statement is left out of the analysis",
                st.describe()
            ),
        )
    }));
    findings.extend(invalid.map(|(statement_index, explanation)| LintFinding {
        rule_id: unparseable.id.into(),
        severity: unparseable.severity,
        statement_index,
        sid: None,
        principal: None,
        actions: vec![],
        explanation,
    }));
    let incomplete = analysis.incomplete();
    let mut not_assessed = Vec::new();
    for (rule, check) in rules::policy_rules() {
        let PolicyVerdict::Offenses(offenses, _) = check(&input, &ctx) else {
            continue;
        };
        if let (true, Some(why)) = (offenses.is_empty(), &incomplete) {
            not_assessed.push(format!("{}: {why}", rule.def.id));
        }
        if !offenses.is_empty() {
            match rule.lint_flag {
                Some(LintFlag::Public) => summary.public = true,
                Some(LintFlag::WildcardAdmin) => summary.wildcard_admin = true,
                Some(LintFlag::SeparationOfDuties) => summary.separation_of_duties_violation = true,
                None => {}
            }
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
    let report = LintReport {
        findings,
        summary,
        parse_error: None,
        not_assessed,
        notes: analysis.notes.clone(),
        key_account: key_account.map(str::to_string),
        key_account_source: key_account_source.map(str::to_string),
    };
    (report, Some(analysis))
}
