//! Org fixtures (`examples/*.toml`): accounts, keys, policies, grants, Access Analyzer state,
//! the faults the stand-in plays, and the findings each key is expected to produce.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use serde::Deserialize;

/// moto's account for credentials that did not come from AssumeRole: the management account.
pub const MANAGEMENT_ACCOUNT: &str = "123456789012";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixture {
    pub description: String,
    pub accounts: Vec<Account>,
    /// Named policy documents; `${account:NAME}`, `${self}` (the key's account), `${org_id}` and
    /// `${management}` are replaced when seeding.
    pub policies: BTreeMap<String, String>,
    /// JSON statement lists that policies include with `${statements:NAME}`.
    #[serde(default)]
    pub statements: BTreeMap<String, String>,
    pub keys: Vec<Key>,
    #[serde(default)]
    pub analyzers: Vec<AnalyzerDef>,
    #[serde(default)]
    pub aa_findings: Vec<AaFindingDef>,
    /// CloudTrail trails, metric filters, alarms, topics and EventBridge rules.
    #[serde(default)]
    pub monitoring: crate::seed_monitoring::MonitoringDefs,
    /// Findings on accounts and account × regions (`account/...` resources).
    #[serde(default)]
    pub expect_scope: Vec<ScopeExpectation>,
    /// Rule configuration the fixture is evaluated with (a kmsaudit.toml, relative to the fixture).
    pub config: Option<String>,
    /// Organizational units (directly under the root) and the accounts moved into them.
    #[serde(default)]
    pub ous: Vec<OuDef>,
    /// IAM users and roles created in the accounts.
    #[serde(default)]
    pub iam: Vec<IamDef>,
    /// Service control policies; targets are `root`, OU names or account names.
    #[serde(default)]
    pub scps: Vec<OrgPolicyDef>,
    /// Resource control policies; targets as for `scps`.
    #[serde(default)]
    pub rcps: Vec<OrgPolicyDef>,
    /// Effective access each key must show (access.csv).
    #[serde(default)]
    pub access: Vec<AccessExpectation>,
}

/// An OU under the root.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OuDef {
    pub name: String,
    pub accounts: Vec<String>,
}

/// An IAM user or role. Documents take the same placeholders as key policies (`${self}`: the
/// identity's account).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IamDef {
    pub account: String,
    /// `user` or `role`.
    pub kind: String,
    pub name: String,
    /// Inline policies.
    #[serde(default)]
    pub policies: Vec<String>,
    /// Managed policy ARNs attached (AWS managed ones need moto's managed policies loaded).
    #[serde(default)]
    pub managed: Vec<String>,
    /// A role's trust policy.
    #[serde(default)]
    pub trust: Option<String>,
}

/// An SCP or RCP.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrgPolicyDef {
    pub name: String,
    pub targets: Vec<String>,
    pub document: String,
}

/// What access.csv must say of one key: `PRINCIPAL-SUFFIX CAPABILITY VERDICT` rows that must be
/// there, `PRINCIPAL-SUFFIX CAPABILITY` pairs that must not.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessExpectation {
    pub key: String,
    #[serde(default)]
    pub expect: Vec<String>,
    #[serde(default)]
    pub absent: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Account {
    pub name: String,
    /// The management account is moto's default caller account.
    #[serde(default)]
    pub management: bool,
    /// The stand-in answers STS AccessDenied to AssumeRole into this account.
    #[serde(default)]
    pub deny_assume_role: bool,
    /// Closed in Organizations (SUSPENDED): must be skipped, never assumed.
    #[serde(default)]
    pub suspended: bool,
    /// Opt-in regions this account has not enabled (KMS answers UnrecognizedClientException).
    #[serde(default)]
    pub regions_not_enabled: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Key {
    /// Unique name within the fixture.
    pub name: String,
    pub account: String,
    pub region: String,
    #[serde(default)]
    pub description: String,
    #[serde(default = "default_spec")]
    pub spec: String,
    #[serde(default = "default_usage")]
    pub usage: String,
    #[serde(default = "default_origin")]
    pub origin: String,
    #[serde(default)]
    pub multi_region: bool,
    /// Name of an entry of `policies`.
    pub policy: String,
    #[serde(default)]
    pub rotation: bool,
    /// `Enabled`, `Disabled` or `PendingDeletion`.
    #[serde(default = "default_state")]
    pub state: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    #[serde(default)]
    pub grants: Vec<GrantDef>,
    /// The stand-in denies GetKeyPolicy on this key (a key policy that shuts out the auditor).
    #[serde(default)]
    pub deny_key_policy: bool,
    /// Fields the stand-in adds to DescribeKey's KeyMetadata, for what moto does not model
    /// (imported material expiry). Timestamps as RFC 3339 strings.
    #[serde(default)]
    pub describe_patch: BTreeMap<String, toml::Value>,
    /// Fields added to GetKeyRotationStatus (RotationPeriodInDays, which moto lacks).
    #[serde(default)]
    pub rotation_patch: BTreeMap<String, toml::Value>,
    /// What the stand-in's GetKeyLastUsage answers (moto has none); without it, a Decrypt a
    /// day before the scan.
    #[serde(default)]
    pub last_use: Option<LastUseDef>,
    /// What the stand-in's CloudTrail LookupEvents answers for the key (moto has none).
    #[serde(default)]
    pub calls: Vec<CallDef>,
    /// Rules expected to FAIL on this key.
    #[serde(default)]
    pub expect_fail: Vec<String>,
    /// Rules expected NOT_ASSESSED on this key.
    #[serde(default)]
    pub expect_not_assessed: Vec<String>,
    /// Rules expected to PASS (the negative cases worth pinning down).
    #[serde(default)]
    pub expect_pass: Vec<String>,
    #[serde(default)]
    pub expect_not_applicable: Vec<String>,
}

/// A key's last use, relative to the scan: `used` `days_ago` by `operation`; `never_used`
/// since a creation `days_ago`; `no_recorded_use` since tracking began (23 April 2026);
/// `denied` (the key policy does not allow kms:GetKeyLastUsage).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LastUseDef {
    pub state: String,
    #[serde(default)]
    pub days_ago: i64,
    #[serde(default)]
    pub operation: Option<String>,
}

/// One CloudTrail event naming a key, `days_ago` before the start of today (UTC).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallDef {
    pub days_ago: i64,
    pub name: String,
    pub caller: String,
    #[serde(default)]
    pub error: Option<String>,
}

fn default_spec() -> String {
    "SYMMETRIC_DEFAULT".into()
}
fn default_usage() -> String {
    "ENCRYPT_DECRYPT".into()
}
fn default_origin() -> String {
    "AWS_KMS".into()
}
fn default_state() -> String {
    "Enabled".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantDef {
    /// A principal ARN (placeholders allowed) or a service principal.
    pub grantee: String,
    pub operations: Vec<String>,
    pub retiring: Option<String>,
    pub name: Option<String>,
    #[serde(default)]
    pub encryption_context_subset: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalyzerDef {
    pub account: String,
    pub region: String,
    pub name: String,
    /// `ACCOUNT` or `ORGANIZATION`.
    #[serde(rename = "type")]
    pub analyzer_type: String,
    #[serde(default = "active")]
    pub status: String,
}

fn active() -> String {
    "ACTIVE".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AaFindingDef {
    pub id: String,
    /// The key (fixture name) the finding is about.
    pub key: String,
    #[serde(default)]
    pub is_public: bool,
    #[serde(default)]
    pub principal: BTreeMap<String, String>,
    #[serde(default)]
    pub condition: BTreeMap<String, String>,
    #[serde(default = "active")]
    pub status: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopeExpectation {
    pub account: String,
    /// Absent: the account itself.
    pub region: Option<String>,
    /// An IAM policy of the account instead (`${self}` is the account), as findings name it.
    pub policy: Option<String>,
    pub rule: String,
    pub status: String,
}

impl Fixture {
    pub fn load(path: &Path) -> anyhow::Result<Fixture> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading fixture {}", path.display()))?;
        let fixture: Fixture =
            toml::from_str(&text).with_context(|| format!("parsing fixture {}", path.display()))?;
        fixture.check()?;
        Ok(fixture)
    }

    fn check(&self) -> anyhow::Result<()> {
        let managements = self.accounts.iter().filter(|a| a.management).count();
        anyhow::ensure!(
            managements == 1,
            "the fixture must have exactly one management account, found {managements}"
        );
        for k in &self.keys {
            anyhow::ensure!(
                self.accounts.iter().any(|a| a.name == k.account),
                "key {} names unknown account {}",
                k.name,
                k.account
            );
            if let Some(u) = &k.last_use {
                anyhow::ensure!(
                    ["used", "never_used", "no_recorded_use", "denied"].contains(&u.state.as_str()),
                    "key {}: last_use state {:?} is not used, never_used, no_recorded_use or denied",
                    k.name,
                    u.state
                );
            }
            anyhow::ensure!(
                self.policies.contains_key(&k.policy),
                "key {} names unknown policy {}",
                k.name,
                k.policy
            );
        }
        for a in &self.access {
            anyhow::ensure!(
                self.keys.iter().any(|k| k.name == a.key),
                "access expectation names unknown key {}",
                a.key
            );
        }
        for i in &self.iam {
            anyhow::ensure!(
                self.accounts.iter().any(|a| a.name == i.account),
                "IAM identity {} names unknown account {}",
                i.name,
                i.account
            );
        }
        let mut names: Vec<&str> = self.keys.iter().map(|k| k.name.as_str()).collect();
        names.sort();
        names.dedup();
        anyhow::ensure!(names.len() == self.keys.len(), "key names must be unique");
        Ok(())
    }
}
