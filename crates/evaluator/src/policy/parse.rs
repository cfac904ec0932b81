//! IAM policy JSON → normalized statements.
//!
//! The grammar as key policies use it: `Statement` as an object or an array; `Principal` /
//! `NotPrincipal` as `"*"` or a map of `AWS` / `Service` / `Federated` / `CanonicalUser` to a
//! string or list; `Action` / `NotAction`, `Resource` / `NotResource` as string or list;
//! `Condition` as operator → key → value(s). Operator and key names are case-insensitive.
//! Anything outside the grammar is a [`PolicyError`] with the JSON path (and, for JSON syntax
//! errors, the line and column): never a panic, never silently dropped.

use serde_json::Value;

use super::actions::ActionSet;
use super::condition::{Condition, Operator};
use super::invalid::refused_by_kms;
pub use super::invalid::InvalidStatement;
use super::principal::parse_principals;
pub use super::principal::{Principal, PrincipalSpec};
pub use super::resource::KeyScope;

/// A key policy, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// `Version`, when given.
    pub version: Option<String>,
    /// The statements that could be read, in document order.
    pub statements: Vec<Statement>,
    /// Statements that could not be read: left out of the analysis, reported on their own.
    pub invalid: Vec<InvalidStatement>,
    /// Why KMS would refuse the whole document, when it would (it is still analysed).
    pub refused_by_kms: Option<String>,
}

/// One statement, normalized.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    /// Position in the `Statement` array (0-based).
    pub index: usize,
    /// `Sid`, when given.
    pub sid: Option<String>,
    /// `Allow` or `Deny`.
    pub effect: Effect,
    /// `Principal` or `NotPrincipal`.
    pub principals: PrincipalSpec,
    /// `Action` or `NotAction`.
    pub actions: ActionSpec,
    /// `Resource` or `NotResource`.
    pub resources: ResourceSpec,
    /// ANDed.
    pub conditions: Vec<Condition>,
}

/// A statement's `Effect`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Grants what the statement covers.
    Allow,
    /// Refuses what the statement covers, whatever allows it.
    Deny,
}

/// `Action` / `NotAction`.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionSpec {
    /// The patterns as written.
    pub patterns: Vec<String>,
    /// `NotAction`: the statement covers every action the patterns do not match.
    pub negated: bool,
    /// The KMS actions covered, after `NotAction` is applied.
    pub set: ActionSet,
}

/// `Resource` / `NotResource`.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceSpec {
    /// The ARN patterns as written.
    pub patterns: Vec<String>,
    /// `NotResource`: the statement covers every resource the patterns do not match.
    pub negated: bool,
}

/// Why a policy could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at {location}")]
pub struct PolicyError {
    /// What is wrong.
    pub message: String,
    /// `line L column C` for JSON syntax errors, else a JSON path such as `Statement[2].Effect`.
    pub location: String,
}

pub(super) fn err(path: &str, message: impl Into<String>) -> PolicyError {
    PolicyError {
        message: message.into(),
        location: if path.is_empty() {
            "document root".into()
        } else {
            path.to_string()
        },
    }
}

/// Key policies are at most 32 KiB; anything much larger is hostile input, not a policy.
const MAX_POLICY_BYTES: usize = 1 << 20;
const MAX_STATEMENTS: usize = 10_000;

/// What kind of document a policy is: which elements its statements must, may or cannot have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    /// A KMS key policy (or an RCP): `Principal` and `Resource` required.
    Resource,
    /// An IAM identity policy, a permissions boundary or an SCP: no `Principal` (the statements
    /// apply to the identity holding them, read here as `Principal: *`).
    Identity,
    /// A role's trust policy: `Principal` required, `Resource` absent (read as `*`).
    Trust,
}

/// Parses a key policy document.
pub fn parse_policy(text: &str) -> Result<Policy, PolicyError> {
    parse_policy_as(text, PolicyKind::Resource)
}

/// Parses a policy document of `kind`.
pub fn parse_policy_as(text: &str, kind: PolicyKind) -> Result<Policy, PolicyError> {
    if text.len() > MAX_POLICY_BYTES {
        return Err(err(
            "",
            format!(
                "policy is {} bytes, more than the {MAX_POLICY_BYTES} this tool reads",
                text.len()
            ),
        ));
    }
    // serde_json refuses nesting deeper than 128 levels, so hostile depth cannot overflow the stack.
    let value: Value = super::json::parse_strict(text).map_err(|e| PolicyError {
        message: format!("invalid JSON: {}", strip_position(&e.to_string())),
        location: format!("line {} column {}", e.line(), e.column()),
    })?;
    let Value::Object(doc) = &value else {
        return Err(err("", "a policy must be a JSON object"));
    };
    let mut version = None;
    let mut statements_value = None;
    for (k, v) in doc {
        match k.as_str() {
            "Version" => version = Some(expect_str(v, "Version")?.to_string()),
            "Statement" => statements_value = Some(v),
            "Id" => {
                expect_str(v, "Id")?;
            }
            other => return Err(err(other, format!("unknown policy element `{other}`"))),
        }
    }
    if let Some(v) = &version {
        if v != "2012-10-17" && v != "2008-10-17" {
            return Err(err("Version", format!("unknown policy version `{v}`")));
        }
    }
    let raw_statements: Vec<&Value> = match statements_value {
        None => return Err(err("Statement", "the policy has no Statement")),
        Some(Value::Array(items)) => items.iter().collect(),
        Some(v @ Value::Object(_)) => vec![v],
        Some(_) => {
            return Err(err(
                "Statement",
                "Statement must be an object or an array of objects",
            ))
        }
    };
    if raw_statements.len() > MAX_STATEMENTS {
        return Err(err(
            "Statement",
            format!(
                "{} statements, more than {MAX_STATEMENTS}",
                raw_statements.len()
            ),
        ));
    }
    if raw_statements.is_empty() {
        return Err(err(
            "Statement",
            "the policy has no statements (KMS refuses it)",
        ));
    }
    let refused_by_kms = match kind {
        PolicyKind::Resource => refused_by_kms(text, &raw_statements),
        _ => None,
    };
    let (mut statements, mut invalid) = (Vec::new(), Vec::new());
    for (index, v) in raw_statements.into_iter().enumerate() {
        let parsed = match super::intrinsic::intrinsic_in(v, &format!("Statement[{index}]"), 0) {
            Some(hidden) => Err(hidden),
            None => parse_statement(index, v, kind),
        };
        match parsed {
            Ok(st) => statements.push(st),
            Err(error) => invalid.push(InvalidStatement {
                index,
                effect: match v.get("Effect").and_then(Value::as_str) {
                    Some("Allow") => Some(Effect::Allow),
                    Some("Deny") => Some(Effect::Deny),
                    _ => None,
                },
                error,
                no_effect: !["Action", "NotAction"].iter().any(|k| v.get(k).is_some())
                    || !["Resource", "NotResource"]
                        .iter()
                        .any(|k| v.get(k).is_some()),
            }),
        }
    }
    let refused_by_kms = refused_by_kms.or_else(|| {
        invalid
            .iter()
            .find(|s| {
                s.error
                    .message
                    .starts_with(super::principal::REFUSED_PRINCIPAL)
            })
            .map(|s| format!("statement {}: {}", s.index, s.error.message))
    });
    // Nothing readable is left: the document as a whole is not a policy this tool can read.
    if statements.is_empty() {
        return Err(invalid.swap_remove(0).error);
    }
    Ok(Policy {
        version,
        statements,
        invalid,
        refused_by_kms,
    })
}

fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

fn expect_str<'v>(v: &'v Value, path: &str) -> Result<&'v str, PolicyError> {
    v.as_str().ok_or_else(|| err(path, "expected a string"))
}

/// A string or a non-empty list of strings.
pub(super) fn string_or_list(v: &Value, path: &str) -> Result<Vec<String>, PolicyError> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .enumerate()
            .map(|(i, x)| expect_str(x, &format!("{path}[{i}]")).map(str::to_string))
            .collect(),
        Value::Array(_) => Err(err(
            path,
            "expected a string or a non-empty list of strings, found an empty list",
        )),
        _ => Err(err(path, "expected a string or a list of strings")),
    }
}

fn parse_statement(index: usize, v: &Value, kind: PolicyKind) -> Result<Statement, PolicyError> {
    let base = format!("Statement[{index}]");
    let Value::Object(map) = v else {
        return Err(err(&base, "a statement must be a JSON object"));
    };
    let mut sid = None;
    let mut effect = None;
    let mut principals = None;
    let mut actions = None;
    let mut resources = None;
    let mut conditions = Vec::new();
    for (k, val) in map {
        let path = format!("{base}.{k}");
        match k.as_str() {
            "Sid" => sid = Some(expect_str(val, &path)?.to_string()),
            "Effect" => {
                effect = Some(match expect_str(val, &path)? {
                    "Allow" => Effect::Allow,
                    "Deny" => Effect::Deny,
                    other => {
                        return Err(err(
                            &path,
                            format!("Effect must be `Allow` or `Deny`, found `{other}`"),
                        ))
                    }
                })
            }
            "Principal" | "NotPrincipal" if kind == PolicyKind::Identity => {
                return Err(err(&path, format!("an identity policy cannot have `{k}`")));
            }
            "Principal" | "NotPrincipal" => {
                if principals.is_some() {
                    return Err(err(
                        &path,
                        "a statement cannot have both Principal and NotPrincipal",
                    ));
                }
                let list = parse_principals(val, &path)?;
                principals = Some(if k == "Principal" {
                    PrincipalSpec::Principal(list)
                } else {
                    PrincipalSpec::NotPrincipal(list)
                });
            }
            "Action" | "NotAction" => {
                if actions.is_some() {
                    return Err(err(
                        &path,
                        "a statement cannot have both Action and NotAction",
                    ));
                }
                let patterns = string_or_list(val, &path)?;
                let negated = k == "NotAction";
                let matched = patterns
                    .iter()
                    .fold(ActionSet::EMPTY, |acc, p| acc.union(ActionSet::matching(p)));
                let set = if negated {
                    matched.complement()
                } else {
                    matched
                };
                actions = Some(ActionSpec {
                    patterns,
                    negated,
                    set,
                });
            }
            "Resource" | "NotResource" if kind == PolicyKind::Trust => {
                return Err(err(&path, format!("a trust policy cannot have `{k}`")));
            }
            "Resource" | "NotResource" => {
                if resources.is_some() {
                    return Err(err(
                        &path,
                        "a statement cannot have both Resource and NotResource",
                    ));
                }
                resources = Some(ResourceSpec {
                    patterns: string_or_list(val, &path)?,
                    negated: k == "NotResource",
                });
            }
            "Condition" => conditions = parse_conditions(val, &path)?,
            other => return Err(err(&path, format!("unknown statement element `{other}`"))),
        }
    }
    if kind == PolicyKind::Identity {
        principals = Some(PrincipalSpec::Principal(vec![Principal::Anyone]));
    }
    if kind == PolicyKind::Trust {
        resources = Some(ResourceSpec {
            patterns: vec!["*".into()],
            negated: false,
        });
    }
    Ok(Statement {
        index,
        sid,
        effect: effect
            .ok_or_else(|| err(&format!("{base}.Effect"), "the statement has no Effect"))?,
        principals: principals.ok_or_else(|| {
            err(
                &format!("{base}.Principal"),
                "a key policy statement must name a Principal or NotPrincipal",
            )
        })?,
        actions: actions.ok_or_else(|| {
            err(
                &format!("{base}.Action"),
                "the statement has no Action or NotAction",
            )
        })?,
        resources: resources.ok_or_else(|| {
            err(
                &format!("{base}.Resource"),
                "the statement has no Resource or NotResource",
            )
        })?,
        conditions,
    })
}

fn parse_conditions(v: &Value, path: &str) -> Result<Vec<Condition>, PolicyError> {
    let Value::Object(ops) = v else {
        return Err(err(path, "Condition must be a map of operators"));
    };
    let mut out = Vec::new();
    for (op_name, keys) in ops {
        let op_path = format!("{path}.{op_name}");
        let operator = Operator::parse(op_name)
            .ok_or_else(|| err(&op_path, format!("unknown condition operator `{op_name}`")))?;
        let Value::Object(keys) = keys else {
            return Err(err(
                &op_path,
                "a condition operator must map condition keys to values",
            ));
        };
        for (key, values) in keys {
            let key_path = format!("{op_path}.{key}");
            let values = condition_values(values, &key_path)?;
            out.push(Condition {
                operator: operator.clone(),
                key: key.to_ascii_lowercase(),
                key_as_written: key.clone(),
                values,
            });
        }
    }
    Ok(out)
}

fn condition_values(v: &Value, path: &str) -> Result<Vec<String>, PolicyError> {
    let scalar = |x: &Value, p: &str| match x {
        Value::String(s) => Ok(s.clone()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Number(n) => Ok(n.to_string()),
        _ => Err(err(
            p,
            "a condition value must be a string, number or boolean",
        )),
    };
    match v {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, x)| scalar(x, &format!("{path}[{i}]")))
            .collect(),
        other => Ok(vec![scalar(other, path)?]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statement_may_be_an_object() {
        let p = parse_policy(r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*"}}"#).unwrap();
        assert_eq!(p.statements.len(), 1);
        assert_eq!(
            p.statements[0].principals,
            PrincipalSpec::Principal(vec![Principal::Anyone])
        );
    }

    #[test]
    fn principals_of_every_shape() {
        let p = parse_policy(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Resource":"*","Action":"kms:*",
            "Principal":{"AWS":["111122223333","arn:aws:iam::444455556666:root","arn:aws:iam::444455556666:role/R","AROAEXAMPLEID"],
            "Service":"logs.amazonaws.com","Federated":"cognito-identity.amazonaws.com","CanonicalUser":"79a59df900b949e5"}}]}"#,
        )
        .unwrap();
        let PrincipalSpec::Principal(ps) = &p.statements[0].principals else {
            panic!("expected Principal")
        };
        assert!(ps.contains(&Principal::Account("111122223333".into())));
        assert!(ps.contains(&Principal::Account("444455556666".into())));
        assert!(ps.contains(&Principal::Identity {
            arn: "arn:aws:iam::444455556666:role/R".into(),
            account: Some("444455556666".into())
        }));
        assert!(ps.contains(&Principal::Identity {
            arn: "AROAEXAMPLEID".into(),
            account: None
        }));
        assert!(ps.contains(&Principal::Service("logs.amazonaws.com".into())));
        assert_eq!(ps.len(), 7);
    }

    #[test]
    fn errors_name_their_place() {
        let e = parse_policy("{\"Statement\": [").unwrap_err();
        assert!(e.location.starts_with("line 1 column"), "{e}");
        // One bad statement is left out and named; the rest is read.
        let p = parse_policy(r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"},{"Effect":"Maybe","Principal":"*","Action":"kms:*","Resource":"*"},{"Effect":"Allow","Principal":"*","Action":"kms:*"}]}"#).unwrap();
        assert_eq!(p.statements.len(), 1);
        assert_eq!(p.invalid.len(), 2);
        assert_eq!(p.invalid[0].error.location, "Statement[1].Effect");
        assert!(p.invalid[0].may_allow());
        assert_eq!(p.invalid[1].error.location, "Statement[2].Resource");
        // KMS gives a statement without Resource no effect: leaving it out hides nothing.
        assert!(p.invalid[1].no_effect && !p.invalid[1].may_allow());
        assert_eq!(p.refused_by_kms, None);
        let refused = parse_policy(r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Sid":"中"},{"Effect":"Deny","Action":"kms:*","Resource":"*"}]}"#).unwrap();
        assert!(refused.refused_by_kms.unwrap().contains("U+4E2D"));
        // An escaped character is ASCII text; a statement without principal is refused.
        let refused = parse_policy(r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Sid":"\u4e2d"},{"Effect":"Deny","Action":"kms:*","Resource":"*"}]}"#).unwrap();
        assert!(refused
            .refused_by_kms
            .unwrap()
            .contains("statement 1 names no principal"));
        // Nothing readable left: the document is refused with the first statement's error.
        let e = parse_policy(r#"{"Statement":[{"Effect":"Maybe"}]}"#).unwrap_err();
        assert_eq!(e.location, "Statement[0].Effect");
        let e = parse_policy(r#"{"Statement":[]}"#).unwrap_err();
        assert!(e.message.contains("no statements"));
        let e = parse_policy(r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringEqualz":{"a":"b"}}}]}"#).unwrap_err();
        assert!(e.message.contains("StringEqualz"));
        let e = parse_policy(r#"[1,2]"#).unwrap_err();
        assert_eq!(e.location, "document root");
    }

    #[test]
    fn not_action_complements() {
        let p = parse_policy(r#"{"Statement":[{"Effect":"Allow","Principal":"*","NotAction":"kms:Decrypt","Resource":"*"}]}"#).unwrap();
        let a = &p.statements[0].actions;
        assert!(a.negated);
        assert!(!a.set.overlaps(ActionSet::of(&["Decrypt"])));
        assert!(a
            .set
            .contains_all(ActionSet::of(&["Encrypt", "PutKeyPolicy"])));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(parse_policy(&deep).is_err());
    }
}
