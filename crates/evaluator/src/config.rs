//! Rule inputs (`kmsaudit.toml`): trusted accounts, allowlists, thresholds, suppressions.

use serde::{Deserialize, Serialize};

/// What the rules are configured with. Every field has a default; unknown fields are errors so
/// that a typo in a config file fails loudly instead of silently not applying.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvalConfig {
    /// Accounts outside the organization that may still be trusted (auditors, vendors).
    pub trusted_accounts: Vec<String>,
    /// Who may administer keys: IAM ARN patterns (`arn:aws:iam::*:role/KeyAdmin*`) and
    /// `aws:userid` patterns (`AROAEXAMPLE*`). Empty: KMS-POLICY-ADMIN-ALLOWLIST does not apply.
    pub admin_allowlist: Vec<String>,
    /// Alias patterns (`alias/legacy-*`) whose keys' findings are muted.
    pub key_allowlist: Vec<String>,
    /// Tag keys every customer-managed key must carry.
    pub required_tags: Vec<String>,
    pub max_rotation_days: i64,
    pub max_grants: usize,
    pub imported_expiry_days: i64,
    pub max_principals: usize,
    /// Days without a successful cryptographic use after which a key counts as unused, and
    /// within which a use counts as recent (KMS-KEY-UNUSED, KMS-KEY-DESTROY-IN-USE).
    pub unused_days: i64,
    /// The shortest deletion waiting period (7 to 30 days) a key may be scheduled with: a key
    /// policy, SCP or RCP should deny `ScheduleKeyDeletion` with any shorter one
    /// (KMS-KEY-DELETION-WINDOW).
    pub min_deletion_window_days: i64,
    /// Regions multi-Region replicas may live in. Empty: any region.
    pub allowed_regions: Vec<String>,
    /// The compliance frameworks the outputs map findings to, by key (`cis6`, `fsbp`, `pci`,
    /// ...; `kmsaudit rules --frameworks` lists them). Empty: every framework.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub frameworks: Vec<String>,
    #[serde(rename = "suppress")]
    pub suppressions: Vec<Suppression>,
}

impl Default for EvalConfig {
    fn default() -> Self {
        EvalConfig {
            trusted_accounts: vec![],
            admin_allowlist: vec![],
            key_allowlist: vec![],
            required_tags: vec![],
            max_rotation_days: 365,
            max_grants: 20,
            imported_expiry_days: 30,
            max_principals: 10,
            unused_days: 90,
            min_deletion_window_days: 30,
            allowed_regions: vec![],
            frameworks: vec![],
            suppressions: vec![],
        }
    }
}

/// A justified, expiring exception: findings of `rule` on resources matching `resource` are
/// MUTED until `expires` (inclusive). An expired suppression stops muting and is reported.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Suppression {
    /// A rule id, or a pattern such as `KMS-GRANT-*`.
    pub rule: String,
    /// Resource pattern (`*` and `?`), matched against the finding's resource ARN.
    pub resource: String,
    pub justification: String,
    /// Last day the suppression mutes (`2027-03-31`, quoted or as a TOML date).
    #[serde(deserialize_with = "date")]
    pub expires: jiff::civil::Date,
}

/// A date as a string, or as a TOML date literal (which reaches serde as a one-field map).
fn date<'de, D: serde::Deserializer<'de>>(d: D) -> Result<jiff::civil::Date, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Text(String),
        Toml(std::collections::BTreeMap<String, String>),
    }
    let text = match Raw::deserialize(d)? {
        Raw::Text(s) => s,
        Raw::Toml(m) => m.into_values().next().unwrap_or_default(),
    };
    text.parse()
        .map_err(|e| serde::de::Error::custom(format!("`{text}` is not a date (YYYY-MM-DD): {e}")))
}

/// One problem of a configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A suppression without a reason.
    #[error("suppression {index} for `{rule}` has an empty justification")]
    EmptyJustification {
        /// 1-based position in the file.
        index: usize,
        /// The suppression's rule pattern.
        rule: String,
    },
    /// A trusted account that is not an account id.
    #[error("`{value}` in trusted_accounts is not a 12-digit account id")]
    BadAccount {
        /// The value as written.
        value: String,
    },
    /// A deletion waiting period KMS does not accept.
    #[error("min_deletion_window_days = {value}: KMS waiting periods are 7 to 30 days")]
    BadWindow {
        /// The value as written.
        value: i64,
    },
    /// A framework key the mapping file does not know.
    #[error("`{value}` in frameworks is not a framework; known: {known}")]
    UnknownFramework {
        /// The value as written.
        value: String,
        /// The known keys, comma-separated.
        known: String,
    },
}

/// Every problem of a configuration, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl std::fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let lines: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&lines.join("; "))
    }
}

impl std::error::Error for ConfigErrors {}

impl EvalConfig {
    /// Checks what serde cannot, and reports every problem at once.
    pub fn validate(&self) -> Result<(), ConfigErrors> {
        let mut errors = Vec::new();
        for (i, s) in self.suppressions.iter().enumerate() {
            if s.justification.trim().is_empty() {
                errors.push(ConfigError::EmptyJustification {
                    index: i + 1,
                    rule: s.rule.clone(),
                });
            }
        }
        for a in &self.trusted_accounts {
            if !kmsaudit_model::is_account_id(a) {
                errors.push(ConfigError::BadAccount { value: a.clone() });
            }
        }
        if !(7..=30).contains(&self.min_deletion_window_days) {
            errors.push(ConfigError::BadWindow {
                value: self.min_deletion_window_days,
            });
        }
        let known = crate::compliance::framework_keys();
        for f in &self.frameworks {
            if !known.contains(&f.as_str()) {
                errors.push(ConfigError::UnknownFramework {
                    value: f.clone(),
                    known: known.join(", "),
                });
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ConfigErrors(errors))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_is_reported_at_once() {
        let config: EvalConfig = toml::from_str(
            r#"
            trusted_accounts = ["123", "111122223333", "x"]
            min_deletion_window_days = 45
            [[suppress]]
            rule = "KMS-GRANT-*"
            resource = "*"
            justification = " "
            expires = "2027-01-01"
            "#,
        )
        .unwrap();
        let errors = config.validate().unwrap_err();
        assert_eq!(errors.0.len(), 4, "{errors}");
        assert!(errors.to_string().contains("min_deletion_window_days = 45"));
        assert!(errors
            .to_string()
            .contains("suppression 1 for `KMS-GRANT-*`"));
        assert!(errors.to_string().contains("`123`") && errors.to_string().contains("`x`"));
    }
}
