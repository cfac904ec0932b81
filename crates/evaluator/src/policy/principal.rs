//! Principals as a key policy writes them: `"*"`, accounts, IAM identities (by ARN or unique
//! id), services, federated and canonical users.

use serde_json::Value;

use super::parse::{err, string_or_list, PolicyError};

/// Who a statement is about: the principals it names, or everyone but them.
#[derive(Debug, Clone, PartialEq)]
pub enum PrincipalSpec {
    /// `Principal`: these principals.
    Principal(Vec<Principal>),
    /// Everyone except these.
    NotPrincipal(Vec<Principal>),
}

/// One principal as written in the policy.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Principal {
    /// `"*"`, `{"AWS": "*"}`, or an AWS principal with a wildcard (IAM rejects partial
    /// wildcards in principals; we read them as "anyone" rather than guess).
    Anyone,
    /// A 12-digit account id or `arn:<partition>:iam::<account>:root`: the account, and every
    /// IAM identity in it that its IAM policies allow.
    Account(String),
    /// An IAM role, user, assumed-role session, federated user... `account` is `None` for a
    /// unique id (`AROA...`), which is what AWS shows once the named identity was deleted.
    Identity {
        /// The ARN or unique id as written.
        arn: String,
        /// The account of an ARN; `None` for a unique id.
        account: Option<String>,
    },
    /// An AWS service principal (`logs.amazonaws.com`).
    Service(String),
    /// A federated principal (identity provider ARN or `cognito-identity.amazonaws.com`).
    Federated(String),
    /// An S3 canonical user id.
    CanonicalUser(String),
}

impl Principal {
    /// The account the principal belongs to, where it has one.
    pub fn account(&self) -> Option<&str> {
        match self {
            Principal::Account(a) => Some(a),
            Principal::Identity { account, .. } => account.as_deref(),
            Principal::Federated(f) => kmsaudit_model::arn_account(f),
            _ => None,
        }
    }

    /// The partition of a principal written as an ARN (`aws`, `aws-cn`, `aws-us-gov`).
    pub fn partition(&self) -> Option<&str> {
        let arn = match self {
            Principal::Identity { arn, .. } | Principal::Federated(arn) => arn.as_str(),
            Principal::Account(_) => return None,
            _ => return None,
        };
        arn.strip_prefix("arn:")?.split(':').next()
    }

    /// How explanations name the principal.
    pub fn describe(&self) -> String {
        match self {
            Principal::Anyone => "*".to_string(),
            Principal::Account(a) => format!("account {a}"),
            Principal::Identity { arn, .. } => arn.clone(),
            Principal::Service(s) => format!("service {s}"),
            Principal::Federated(f) => format!("federated {f}"),
            Principal::CanonicalUser(c) => format!("canonical user {c}"),
        }
    }
}

/// `Principal` / `NotPrincipal`: `"*"` or a map of principal type to a string or list.
pub(super) fn parse_principals(v: &Value, path: &str) -> Result<Vec<Principal>, PolicyError> {
    match v {
        Value::String(s) if s == "*" => Ok(vec![Principal::Anyone]),
        Value::String(s) => Err(err(
            path,
            format!("a principal must be `*` or a map such as {{\"AWS\": ...}}, found `{s}`"),
        )),
        Value::Object(map) if !map.is_empty() => {
            let mut out = Vec::new();
            for (kind, vals) in map {
                let p = format!("{path}.{kind}");
                for s in string_or_list(vals, &p)? {
                    out.push(match kind.as_str() {
                        "AWS" => aws_principal(&s).map_err(|m| err(&p, m))?,
                        "Service" => {
                            if s == "*" {
                                Principal::Anyone
                            } else {
                                Principal::Service(s)
                            }
                        }
                        "Federated" => Principal::Federated(s),
                        "CanonicalUser" => {
                            if s == "*" {
                                Principal::Anyone
                            } else {
                                Principal::CanonicalUser(s)
                            }
                        }
                        other => return Err(err(&p, format!("unknown principal type `{other}`"))),
                    });
                }
            }
            out.sort();
            out.dedup();
            Ok(out)
        }
        _ => Err(err(path, "a principal must be `*` or a non-empty map")),
    }
}

/// The start of the error of a principal KMS refuses (the policy is then refused as a whole).
pub(super) const REFUSED_PRINCIPAL: &str = "KMS refuses a principal with a wildcard";

/// Reads one `AWS` principal value. `*` alone is anyone; a partial wildcard
/// (`arn:aws:iam::111122223333:role/*`, `arn:aws:iam::*:root`) is not a principal: KMS's
/// PutKeyPolicy refuses it (IAM User Guide, "AWS JSON policy elements: Principal": wildcards
/// cannot match part of a principal name or ARN).
fn aws_principal(s: &str) -> Result<Principal, String> {
    let s = s.trim();
    if s == "*" {
        return Ok(Principal::Anyone);
    }
    if s.contains('*') || s.contains('?') {
        return Err(format!(
            "{REFUSED_PRINCIPAL} inside it (`{s}`): only `*` alone stands for anyone"
        ));
    }
    if kmsaudit_model::is_account_id(s) {
        return Ok(Principal::Account(s.to_string()));
    }
    if let Some(account) = kmsaudit_model::arn_account(s) {
        let resource = s.splitn(6, ':').nth(5).unwrap_or("");
        // The root of the standard partition is the account; a root of another partition is
        // kept as written so that the analysis can tell it from the key's (see `partition`).
        if resource == "root" && s.starts_with("arn:aws:") {
            return Ok(Principal::Account(account.to_string()));
        }
        return Ok(Principal::Identity {
            arn: s.to_string(),
            account: Some(account.to_string()),
        });
    }
    Ok(Principal::Identity {
        arn: s.to_string(),
        account: None,
    })
}
