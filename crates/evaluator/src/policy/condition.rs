//! Condition operators and what a condition says about *who* can make a request.
//!
//! The evaluator never has a concrete request; it asks of each condition whether it pins the
//! caller (or the caller's network origin) to concrete values. The rules followed, from the IAM
//! policy evaluation logic and the condition operator reference:
//!
//! * A key absent from the request context makes a positive operator (`StringEquals`,
//!   `ArnLike`, `IpAddress`, ...) false and a negated one (`StringNotEquals`, `ArnNotLike`,
//!   `NotIpAddress`, ...) true. `...IfExists` makes any operator true when the key is absent.
//! * Values of one key are ORed (NORed for negated operators); keys and operators are ANDed.
//! * `ForAllValues:` is true when the key is absent (vacuous truth), so in an Allow it pins
//!   nobody. `ForAnyValue:` is false when the key is absent, like a plain positive operator.
//! * In an **Allow**, a positive operator on a caller-identifying key with concrete values pins
//!   the caller. `IfExists` defeats the pin unless the key is present in every authenticated
//!   KMS request (`kms:CallerAccount`, `aws:PrincipalAccount`, `aws:PrincipalArn`,
//!   `aws:userid`): a caller from outside any organization has no `aws:PrincipalOrgID`, so
//!   `StringEqualsIfExists aws:PrincipalOrgID` lets them in.
//! * In a **Deny**, a negated operator on such a key with concrete values denies everyone
//!   outside the values, with or without `IfExists` (an absent key makes the Deny apply).
//! * A value with a wildcard in its identifying part (`*`, `o-*`, `arn:aws:iam::*:role/x`), or
//!   with a policy variable (`${...}`), pins nobody, because one such value lets anyone in.
//! * `kms:ViaService`, `kms:EncryptionContext:*`, `kms:GrantIsForAWSResource`,
//!   `aws:SecureTransport`, `aws:CurrentTime` and other request properties do not say who the
//!   caller is: any principal can call through a service or choose an encryption context.

use std::collections::BTreeSet;

pub use super::operator::{BaseOperator, Operator, SetQualifier};
use super::wildcard::has_wildcard;

/// One operator × key with its values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// The operator.
    pub operator: Operator,
    /// Lowercase: condition keys are case-insensitive.
    pub key: String,
    /// The key as the policy spells it (for explanations).
    pub key_as_written: String,
    /// The values, any of which may match.
    pub values: Vec<String>,
}

/// What a pinning condition restricts the caller to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pin {
    /// To these accounts.
    Accounts(BTreeSet<String>),
    /// To these organizations.
    Orgs(BTreeSet<String>),
    /// Network origin or identity pinned.
    Restricted(Restriction),
}

/// A pin on one network or identity key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restriction {
    /// The condition key, lowercase.
    pub key: String,
    /// The key as the policy spells it.
    pub key_as_written: String,
    /// In words, for explanations (`aws:SourceVpce vpce-1a2b`).
    pub text: String,
    /// The values the caller must have, when they are literals compared for equality (so
    /// that two pins on one key intersect); `None` for CIDR blocks and wildcard patterns.
    pub values: Option<BTreeSet<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyKind {
    /// Values are account ids.
    Account,
    /// Values are ARNs; the account field is what pins.
    Arn,
    Org,
    /// `o-xxx/r-xxx/ou-xxx/...`: the organization id (first segment) is what pins.
    OrgPath,
    Network,
    Identity,
}

fn key_kind(key: &str) -> Option<KeyKind> {
    Some(match key {
        "kms:calleraccount" | "aws:principalaccount" | "aws:sourceaccount" | "aws:sourceowner" => {
            KeyKind::Account
        }
        "aws:principalarn" | "aws:sourcearn" => KeyKind::Arn,
        "aws:principalorgid" | "aws:sourceorgid" => KeyKind::Org,
        "aws:principalorgpaths" | "aws:sourceorgpaths" => KeyKind::OrgPath,
        "aws:sourcevpce" | "aws:sourcevpc" | "aws:sourceip" | "aws:vpcsourceip" => KeyKind::Network,
        // `aws:username` is not here: anyone can create a user of that name in their own
        // account, so it pins nobody.
        "aws:userid" => KeyKind::Identity,
        _ => return None,
    })
}

/// Condition keys present in every authenticated KMS request (and single-valued): `Null` on
/// them is decided, `...IfExists` and set operators read as the plain operator. KMS accepts
/// only TLS, so `aws:SecureTransport` is always `true`.
pub(crate) fn always_present(key: &str) -> bool {
    matches!(
        key,
        "kms:calleraccount"
            | "aws:principalaccount"
            | "aws:principalarn"
            | "aws:userid"
            | "aws:securetransport"
            | "aws:currenttime"
            | "aws:epochtime"
    )
}

/// Literal characters a wildcard pattern must fix to name a set of callers rather than anyone:
/// `1111222233*` (100 accounts) or `o-a1b2c3*` names a set; `1*` or `o-*` is everyone.
const MIN_FIXED_CHARS: usize = 6;

/// Whether a wildcard pattern fixes enough characters to stand for a named set of values.
fn narrow_pattern(pattern: &str) -> bool {
    pattern.chars().filter(|c| !matches!(c, '*' | '?')).count() >= MIN_FIXED_CHARS
}

/// What one account value admits: itself, or the pattern when it is narrow enough (the verdict
/// then names the set of accounts it matches). `None`: the pattern admits anyone. Under an
/// operator without wildcards, a value that is not an account id matches no caller.
fn account_value(value: &str, wild: bool) -> Option<Option<String>> {
    if wild && has_wildcard(value) {
        return narrow_pattern(value).then(|| Some(value.to_string()));
    }
    Some(kmsaudit_model::is_account_id(value).then(|| value.to_string()))
}

impl Condition {
    /// `Operator key value(s)`, for explanations.
    pub fn describe(&self) -> String {
        let plain: Vec<String> = self
            .values
            .iter()
            .map(|v| super::variables::plain(v).into_owned())
            .collect();
        let values = if plain.len() == 1 {
            plain[0].clone()
        } else {
            format!("[{}]", plain.join(", "))
        };
        format!(
            "{} {} = {}",
            self.operator.name(),
            self.key_as_written,
            values
        )
    }

    /// The pin this condition puts on the caller when it appears in an **Allow** statement.
    pub fn allow_pin(&self) -> Option<Pin> {
        let op = &self.operator;
        if !op.base.is_positive_match() || op.set == SetQualifier::ForAllValues {
            return None;
        }
        if op.if_exists && !always_present(&self.key) {
            return None;
        }
        self.pin_from_values()
    }

    /// The pin an `…IfExists` condition on the caller's organization puts on a caller that has
    /// one (`StringEqualsIfExists aws:PrincipalOrgID o-x`): it becomes a pin once a Deny
    /// requires the organization present.
    pub fn pin_if_organization_present(&self) -> Option<Pin> {
        let op = &self.operator;
        let on_org = matches!(self.key.as_str(), "aws:principalorgid");
        if !on_org || !op.if_exists || !op.base.is_positive_match() || op.set != SetQualifier::None
        {
            return None;
        }
        self.pin_from_values()
    }

    /// In an **Allow** to a service principal: the accounts the service may act for, when the
    /// condition is on an encryption-context key the service documents it sets to the ARN of
    /// the resource it acts for (CloudTrail's trail, CloudWatch Logs' log group, an SNS topic,
    /// an SQS queue, a Lambda function), and the ARNs name concrete accounts. Any other caller
    /// chooses its own encryption context: for them this pins nobody.
    pub fn service_source_pin(&self) -> Option<Pin> {
        const SET_BY_SERVICE: [&str; 5] = [
            "kms:encryptioncontext:aws:cloudtrail:arn",
            "kms:encryptioncontext:aws:logs:arn",
            "kms:encryptioncontext:aws:sns:topicarn",
            "kms:encryptioncontext:aws:sqs:arn",
            "kms:encryptioncontext:aws:lambda:functionarn",
        ];
        let op = &self.operator;
        if !SET_BY_SERVICE.contains(&self.key.as_str())
            || !op.base.is_positive_match()
            || op.set == SetQualifier::ForAllValues
            || op.if_exists
            || self.values.is_empty()
            || self.values.iter().any(|v| v.contains("${"))
        {
            return None;
        }
        let wild = op.base.has_wildcards();
        let mut accounts = BTreeSet::new();
        for v in &self.values {
            accounts.extend(account_value(kmsaudit_model::arn_account(v)?, wild)?);
        }
        Some(Pin::Accounts(accounts))
    }

    /// The pin this condition puts on everyone it does not deny, when it appears in a **Deny**.
    pub fn deny_pin(&self) -> Option<Pin> {
        let op = &self.operator;
        // `ForAllValues:` is true when the key is absent (the Deny applies) and otherwise
        // requires every value to miss: it denies as the plain operator does. `ForAnyValue:`
        // is false when the key is absent: it spares whoever lacks the key.
        if !op.base.is_negated_match() || op.set == SetQualifier::ForAnyValue {
            return None;
        }
        self.pin_from_values()
    }

    fn pin_from_values(&self) -> Option<Pin> {
        let kind = key_kind(&self.key)?;
        if matches!(
            self.operator.base,
            BaseOperator::IpAddress | BaseOperator::NotIpAddress
        ) && !matches!(self.key.as_str(), "aws:sourceip" | "aws:vpcsourceip")
        {
            return None;
        }
        if self.values.is_empty() || self.values.iter().any(|v| v.contains("${")) {
            return None;
        }
        let wild = self.operator.base.has_wildcards();
        match kind {
            KeyKind::Account => {
                let mut accounts = BTreeSet::new();
                for v in &self.values {
                    accounts.extend(account_value(v, wild)?);
                }
                Some(Pin::Accounts(accounts))
            }
            KeyKind::Arn => {
                let mut accounts = BTreeSet::new();
                for v in &self.values {
                    let account = kmsaudit_model::arn_account(v)?;
                    // Under `StringLike` a `*` spans colons, and IAM paths may hold them: a
                    // wildcard before the account field lets that field fall anywhere.
                    let before = v.splitn(5, ':').take(4).collect::<Vec<_>>().join(":");
                    if wild && !self.operator.base.is_arn() && has_wildcard(&before) {
                        return None;
                    }
                    accounts.extend(account_value(account, wild)?);
                }
                Some(Pin::Accounts(accounts))
            }
            KeyKind::Org | KeyKind::OrgPath => {
                // Organization ids are lowercase: `...IgnoreCase` values are read as lowercase, and
                // a case-sensitive value in capitals (which matches no organization) is read the
                // same way, which can only over-state who is reached.
                let mut orgs = BTreeSet::new();
                for v in &self.values {
                    let org = match kind {
                        KeyKind::OrgPath => v.split('/').next().unwrap_or(""),
                        _ => v.as_str(),
                    };
                    if wild && has_wildcard(org) {
                        if !narrow_pattern(org.strip_prefix("o-").unwrap_or(org)) {
                            return None;
                        }
                    } else if org.is_empty() {
                        return None;
                    }
                    orgs.insert(org.to_ascii_lowercase());
                }
                Some(Pin::Orgs(orgs))
            }
            KeyKind::Network => {
                let is_ip = self.key.ends_with("ip");
                if self
                    .values
                    .iter()
                    .any(|v| v.trim_matches('*').is_empty() || (wild && has_wildcard(v)))
                {
                    return None;
                }
                // A union of address blocks broader than S3 Block Public Access allows for a
                // non-public policy pins nobody (compared as strings, `0.0.0.0/0` is one value).
                if is_ip && super::cidr::union_is_broad(self.values.iter().map(String::as_str)) {
                    return None;
                }
                // CIDR blocks overlap in ways string sets do not show: not intersected.
                let literal = !is_ip && !wild;
                Some(self.restricted_pin(literal))
            }
            KeyKind::Identity => {
                // The account root's `aws:userid` is the account id: all such values pin accounts.
                if self.values.iter().all(|v| kmsaudit_model::is_account_id(v)) {
                    return Some(Pin::Accounts(self.values.iter().cloned().collect()));
                }
                // `AROAEXAMPLEID:*` pins one role's sessions (the unique id, then the session);
                // a wildcard inside the id part (`AROAA*`) matches principals of every account.
                let pins_one = |v: &str| {
                    let id = v.split(':').next().unwrap_or("");
                    !has_wildcard(id) && (id.len() >= 16 || kmsaudit_model::is_account_id(id))
                };
                if wild && self.values.iter().any(|v| !pins_one(v)) {
                    return None;
                }
                let literal = !self.values.iter().any(|v| has_wildcard(v)) || !wild;
                Some(self.restricted_pin(literal))
            }
        }
    }

    /// A pin on the caller's network origin or identity. `literal`: the values are compared
    /// for equality, so two pins on the same key intersect as sets.
    fn restricted_pin(&self, literal: bool) -> Pin {
        // Case-insensitive values cannot be intersected with case-sensitive ones as strings.
        let literal = literal && !self.operator.base.ignores_case();
        Pin::Restricted(Restriction {
            key: self.key.clone(),
            key_as_written: self.key_as_written.clone(),
            text: format!("{} {}", self.key_as_written, self.values.join(", ")),
            values: literal.then(|| self.values.iter().cloned().collect()),
        })
    }

    /// `Bool kms:GrantIsForAWSResource true`: grants only for AWS services integrated with KMS.
    /// (`BoolIfExists` is the same: every CreateGrant request carries the key.)
    pub fn is_grant_for_aws_resource(&self) -> bool {
        self.key == "kms:grantisforawsresource"
            && self.operator.base == BaseOperator::Bool
            && self.operator.set == SetQualifier::None
            && self.values.len() == 1
            && self.values[0].eq_ignore_ascii_case("true")
    }

    /// `StringEquals aws:PrincipalType Account`: only the account root itself, not IAM
    /// identities the account's IAM policies would delegate to.
    pub fn is_principal_type_account(&self) -> bool {
        self.key == "aws:principaltype"
            && matches!(
                self.operator.base,
                BaseOperator::StringEquals | BaseOperator::StringEqualsIgnoreCase
            )
            && !self.operator.if_exists
            && self.operator.set == SetQualifier::None
            && !self.values.is_empty()
            && self
                .values
                .iter()
                .all(|v| v.eq_ignore_ascii_case("Account"))
    }

    /// A positive condition that only account roots satisfy: `aws:PrincipalArn` naming only
    /// `arn:...:iam::ACCOUNT:root` ARNs, or `aws:userid` naming only account ids (a root's
    /// user id is its account id).
    pub fn is_root_itself(&self) -> bool {
        let op = &self.operator;
        if !op.base.is_positive_match() || op.if_exists || op.set == SetQualifier::ForAllValues {
            return false;
        }
        !self.values.is_empty()
            && match self.key.as_str() {
                "aws:principalarn" => self.values.iter().all(|v| {
                    !has_wildcard(v)
                        && v.starts_with("arn:")
                        && v.ends_with(":root")
                        && kmsaudit_model::arn_account(v).is_some_and(kmsaudit_model::is_account_id)
                }),
                "aws:userid" => self.values.iter().all(|v| kmsaudit_model::is_account_id(v)),
                _ => false,
            }
    }

    /// The `aws:userid` patterns of a positive condition (admin allowlist input).
    pub fn userid_values(&self) -> Option<&[String]> {
        (self.key == "aws:userid" && self.operator.base.is_positive_match())
            .then_some(&self.values[..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cond(op: &str, key: &str, values: &[&str]) -> Condition {
        Condition {
            operator: Operator::parse(op).unwrap(),
            key: key.to_ascii_lowercase(),
            key_as_written: key.into(),
            values: values.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn operator_names_parse_with_qualifiers() {
        let op = Operator::parse("ForAnyValue:StringLikeIfExists").unwrap();
        assert_eq!(op.base, BaseOperator::StringLike);
        assert!(op.if_exists);
        assert_eq!(op.set, SetQualifier::ForAnyValue);
        assert_eq!(op.name(), "ForAnyValue:StringLikeIfExists");
        assert_eq!(
            Operator::parse("stringequals").unwrap().base,
            BaseOperator::StringEquals
        );
        assert!(Operator::parse("NullIfExists").is_none());
        assert!(Operator::parse("ForSomeValues:StringEquals").is_none());
        assert!(Operator::parse("StringEqualz").is_none());
        assert!(Operator::parse("IfExists").is_none());
    }

    #[test]
    fn allow_pins() {
        let org = cond("StringEquals", "aws:PrincipalOrgID", &["o-abc123"]);
        assert_eq!(
            org.allow_pin(),
            Some(Pin::Orgs(["o-abc123".to_string()].into()))
        );
        assert_eq!(
            cond("StringLike", "aws:PrincipalOrgID", &["o-*"]).allow_pin(),
            None
        );
        assert_eq!(
            cond("StringEqualsIfExists", "aws:PrincipalOrgID", &["o-abc123"]).allow_pin(),
            None
        );
        assert!(cond(
            "StringEqualsIfExists",
            "kms:CallerAccount",
            &["111122223333"]
        )
        .allow_pin()
        .is_some());
        assert_eq!(
            cond(
                "ForAllValues:StringEquals",
                "aws:PrincipalOrgID",
                &["o-abc123"]
            )
            .allow_pin(),
            None
        );
        assert!(cond(
            "ForAnyValue:StringEquals",
            "aws:PrincipalOrgID",
            &["o-abc123"]
        )
        .allow_pin()
        .is_some());
        assert_eq!(
            cond("StringNotEquals", "aws:PrincipalOrgID", &["o-abc123"]).allow_pin(),
            None
        );
        assert_eq!(
            cond(
                "StringEquals",
                "kms:ViaService",
                &["ec2.us-east-1.amazonaws.com"]
            )
            .allow_pin(),
            None
        );
        assert_eq!(
            cond("StringLike", "kms:CallerAccount", &["*"]).allow_pin(),
            None
        );
        assert_eq!(
            cond(
                "StringEquals",
                "kms:CallerAccount",
                &["${aws:PrincipalAccount}"]
            )
            .allow_pin(),
            None
        );
        assert_eq!(
            cond(
                "ArnLike",
                "aws:PrincipalArn",
                &["arn:aws:iam::111122223333:role/app-*"]
            )
            .allow_pin(),
            Some(Pin::Accounts(["111122223333".to_string()].into()))
        );
        assert_eq!(
            cond("ArnLike", "aws:PrincipalArn", &["arn:aws:iam::*:role/app"]).allow_pin(),
            None
        );
        assert_eq!(
            cond("IpAddress", "aws:SourceIp", &["0.0.0.0/0"]).allow_pin(),
            None
        );
        assert!(cond("IpAddress", "aws:SourceIp", &["203.0.113.0/24"])
            .allow_pin()
            .is_some());
        assert!(
            cond("StringLike", "aws:userid", &["AROAOTTERFGJHZSLLMNZP:*"])
                .allow_pin()
                .is_some()
        );
        assert_eq!(
            cond("StringLike", "aws:userid", &["AROA*"]).allow_pin(),
            None
        );
        assert_eq!(
            cond(
                "ForAnyValue:StringLike",
                "aws:PrincipalOrgPaths",
                &["o-a1b2c3/r-ab12/ou-ab12-11111111/*"]
            )
            .allow_pin(),
            Some(Pin::Orgs(["o-a1b2c3".to_string()].into()))
        );
        // one open value among concrete ones opens the condition (values are ORed)
        assert_eq!(
            cond("StringLike", "kms:CallerAccount", &["111122223333", "*"]).allow_pin(),
            None
        );
    }

    #[test]
    fn deny_pins() {
        assert!(
            cond("StringNotEquals", "aws:SourceVpce", &["vpce-1a2b3c4d"])
                .deny_pin()
                .is_some()
        );
        assert!(cond(
            "StringNotEqualsIfExists",
            "aws:PrincipalOrgID",
            &["o-abc123"]
        )
        .deny_pin()
        .is_some());
        assert_eq!(
            cond("StringEquals", "aws:SourceVpce", &["vpce-1a2b3c4d"]).deny_pin(),
            None
        );
        assert_eq!(
            cond("StringNotLike", "aws:PrincipalOrgID", &["*"]).deny_pin(),
            None
        );
        assert_eq!(
            cond("Bool", "aws:SecureTransport", &["false"]).deny_pin(),
            None
        );
    }

    #[test]
    fn special_conditions() {
        assert!(cond("Bool", "kms:GrantIsForAWSResource", &["true"]).is_grant_for_aws_resource());
        assert!(cond("Bool", "KMS:grantIsForAwsResource", &["TRUE"]).is_grant_for_aws_resource());
        assert!(!cond("Bool", "kms:GrantIsForAWSResource", &["false"]).is_grant_for_aws_resource());
        assert!(cond("StringEquals", "aws:PrincipalType", &["Account"]).is_principal_type_account());
        assert!(
            !cond("StringEqualsIfExists", "aws:PrincipalType", &["Account"])
                .is_principal_type_account()
        );
    }
}
