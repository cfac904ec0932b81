//! A reference evaluator for one concrete request against a key policy, as IAM decides for a
//! resource policy: an explicit Deny wins, else an Allow that matches, else an implicit deny.
//!
//! Deliberately small and literal, and separate from [`analyze`](super::analyze): it answers one
//! request at a time, where the analysis answers "who could" for every request at once. Tests
//! search requests with it for counter-examples to the analysis's verdicts.

use std::collections::BTreeMap;

use super::actions::ActionSet;
use super::condition::{BaseOperator, Condition, SetQualifier};
use super::parse::{Effect, Policy, PrincipalSpec, Statement};
use super::principal::Principal;
use super::variables::{literal_text, plain, resolve};
use super::wildcard::{arn_match, wildcard_match};

/// Who makes a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// An IAM identity or an account root: its ARN (`arn:aws:iam::111122223333:role/R`,
    /// `...:root`) and account.
    Iam {
        /// The principal's ARN.
        arn: String,
        /// The principal's account.
        account: String,
    },
    /// An AWS service principal (`logs.amazonaws.com`).
    Service(String),
    /// No credentials at all.
    Anonymous,
}

/// One concrete request: the caller, the action (`kms:Decrypt`), and the request context by
/// lowercase condition key (a key that is absent is not in the map).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Who calls.
    pub caller: Caller,
    /// The action, e.g. `kms:Decrypt`.
    pub action: String,
    /// Condition keys (lowercase) and their values.
    pub context: BTreeMap<String, Vec<String>>,
}

/// IAM's answer for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// An Allow matched and no Deny did.
    Allow,
    /// A Deny matched.
    ExplicitDeny,
    /// Nothing matched.
    ImplicitDeny,
}

/// Decides `request` against `policy` attached to the key `key_arn`.
///
/// Besides the statements, what KMS itself decides: a principal of another account can only
/// perform the operations KMS allows across accounts, and never one of another partition.
pub fn decide(policy: &Policy, key_arn: &str, request: &Request) -> Decision {
    // A service principal calls from its own (AWS-owned) account: another account's.
    let effective = ActionSet::matching(&request.action).overlaps(ActionSet::cross_account());
    // KMS accepts only signed requests.
    if request.caller == Caller::Anonymous
        || matches!(request.caller, Caller::Service(_)) && !effective
    {
        return Decision::ImplicitDeny;
    }
    if let Caller::Iam { arn, account } = &request.caller {
        let key_account = arn_field(key_arn, 4);
        let cross_account = key_account != Some(account.as_str());
        if (cross_account && !effective) || arn_field(arn, 1) != arn_field(key_arn, 1) {
            return Decision::ImplicitDeny;
        }
    }
    let version = policy.version.as_deref();
    let applies = |st: &&Statement| statement_matches(st, version, key_arn, request);
    if policy
        .statements
        .iter()
        .filter(|s| s.effect == Effect::Deny)
        .any(|s| applies(&s))
    {
        Decision::ExplicitDeny
    } else if policy
        .statements
        .iter()
        .filter(|s| s.effect == Effect::Allow)
        .any(|s| applies(&s))
    {
        Decision::Allow
    } else {
        Decision::ImplicitDeny
    }
}

/// Field `i` (0-based) of an ARN.
fn arn_field(arn: &str, i: usize) -> Option<&str> {
    arn.splitn(6, ':').nth(i)
}

/// A variable's value in the request: single-valued context keys only.
fn lookup<'r>(context: &'r BTreeMap<String, Vec<String>>) -> impl Fn(&str) -> Option<String> + 'r {
    move |key: &str| match context.get(key).map(Vec::as_slice) {
        Some([one]) => Some(one.clone()),
        _ => None,
    }
}

fn statement_matches(
    st: &Statement,
    version: Option<&str>,
    key_arn: &str,
    request: &Request,
) -> bool {
    let action = request.action.to_ascii_lowercase();
    let action_named = st
        .actions
        .patterns
        .iter()
        .any(|p| wildcard_match(&p.to_ascii_lowercase(), &action));
    let resource_named = st.resources.patterns.iter().any(|p| {
        resolve(p, version, lookup(&request.context))
            .is_some_and(|p| arn_match(&p, &literal_text(key_arn)))
    });
    let principal_named = |list: &[Principal]| list.iter().any(|p| names(p, &request.caller));
    let principal = match &st.principals {
        PrincipalSpec::Principal(list) => principal_named(list),
        PrincipalSpec::NotPrincipal(list) => !principal_named(list),
    };
    principal
        && action_named != st.actions.negated
        && resource_named != st.resources.negated
        && st
            .conditions
            .iter()
            .all(|c| holds(c, version, &request.context))
}

/// Whether a policy principal names the caller. An account names every identity of it (the
/// key policy delegates to that account's IAM).
pub(super) fn names(p: &Principal, caller: &Caller) -> bool {
    match (p, caller) {
        (Principal::Anyone, _) => true,
        (Principal::Account(a), Caller::Iam { account, .. }) => a == account,
        (Principal::Identity { arn, .. }, Caller::Iam { arn: caller, .. }) => arn == caller,
        (Principal::Service(s), Caller::Service(name)) => s.eq_ignore_ascii_case(name),
        _ => false,
    }
}

/// Whether one condition holds for the request context.
pub(super) fn holds(
    c: &Condition,
    version: Option<&str>,
    context: &BTreeMap<String, Vec<String>>,
) -> bool {
    let op = &c.operator;
    let present = context.get(&c.key).filter(|v| !v.is_empty());
    if op.base == BaseOperator::Null {
        let wants_absent = c.values.iter().any(|v| v.eq_ignore_ascii_case("true"));
        return present.is_none() == wants_absent;
    }
    let Some(values) = present else {
        return match op.set {
            SetQualifier::ForAllValues => true,
            SetQualifier::ForAnyValue => false,
            SetQualifier::None => op.if_exists || is_negated(op.base),
        };
    };
    let positive = positive_base(op.base);
    // Variables are replaced from the request; a value whose variable has no value matches
    // nothing.
    let policy_values: Vec<String> = c
        .values
        .iter()
        .filter_map(|v| resolve(v, version, lookup(context)))
        .collect();
    // A negated operator is true when no policy value matches (NOR of the positive form).
    let matches_one = |v: &str| {
        let hit = policy_values.iter().any(|pv| compare(positive, pv, v));
        if is_negated(op.base) {
            !hit
        } else {
            hit
        }
    };
    match op.set {
        SetQualifier::None | SetQualifier::ForAnyValue => values.iter().any(|v| matches_one(v)),
        SetQualifier::ForAllValues => values.iter().all(|v| matches_one(v)),
    }
}

fn is_negated(b: BaseOperator) -> bool {
    use BaseOperator::*;
    matches!(
        b,
        StringNotEquals
            | StringNotEqualsIgnoreCase
            | StringNotLike
            | NumericNotEquals
            | DateNotEquals
            | NotIpAddress
            | ArnNotEquals
            | ArnNotLike
    )
}

/// The positive comparison a (possibly negated) operator negates.
fn positive_base(b: BaseOperator) -> BaseOperator {
    use BaseOperator::*;
    match b {
        StringNotEquals => StringEquals,
        StringNotEqualsIgnoreCase => StringEqualsIgnoreCase,
        StringNotLike => StringLike,
        NumericNotEquals => NumericEquals,
        DateNotEquals => DateEquals,
        NotIpAddress => IpAddress,
        ArnNotEquals => ArnEquals,
        ArnNotLike => ArnLike,
        other => other,
    }
}

/// Whether `op` compares a value as text (string, ARN, binary, Bool and `Null` operators and
/// their negations): its outcome on a value is a function of [`text_comparisons`].
pub(crate) fn compares_as_text(op: BaseOperator) -> bool {
    use BaseOperator::*;
    matches!(
        positive_base(op),
        StringEquals
            | StringEqualsIgnoreCase
            | StringLike
            | BinaryEquals
            | Bool
            | ArnEquals
            | ArnLike
            | Null
    )
}

/// `policy_value` compared with `value` by each positive text operator, one bit each: two
/// values with the same bits meet every text condition on `policy_value` alike.
pub(crate) fn text_comparisons(policy_value: &str, value: &str) -> u8 {
    use BaseOperator::*;
    [StringEquals, StringEqualsIgnoreCase, StringLike, ArnLike]
        .into_iter()
        .enumerate()
        .fold(0, |bits, (i, op)| {
            bits | u8::from(compare(op, policy_value, value)) << i
        })
}

/// `policy_value` compared with one request value by a positive operator.
fn compare(op: BaseOperator, policy_value: &str, value: &str) -> bool {
    use BaseOperator::*;
    let number = |s: &str| s.trim().parse::<f64>().ok();
    // IAM's date operators take ISO 8601 times and epoch seconds.
    let date = |s: &str| {
        let s = s.trim();
        s.parse::<jiff::Timestamp>().ok().or_else(|| {
            s.parse::<i64>()
                .ok()
                .and_then(|n| jiff::Timestamp::from_second(n).ok())
        })
    };
    // `*` and `?` are wildcards only for the `...Like` and ARN operators.
    let exact = plain(policy_value);
    match op {
        StringEquals | BinaryEquals => exact == value,
        StringEqualsIgnoreCase => exact.eq_ignore_ascii_case(value),
        StringLike => wildcard_match(policy_value, &literal_text(value)),
        ArnLike | ArnEquals => arn_match(policy_value, &literal_text(value)),
        Bool => exact.eq_ignore_ascii_case(value),
        NumericEquals => number(policy_value).is_some() && number(policy_value) == number(value),
        NumericLessThan => cmp(number(value), number(policy_value), |a, b| a < b),
        NumericLessThanEquals => cmp(number(value), number(policy_value), |a, b| a <= b),
        NumericGreaterThan => cmp(number(value), number(policy_value), |a, b| a > b),
        NumericGreaterThanEquals => cmp(number(value), number(policy_value), |a, b| a >= b),
        DateEquals => date(policy_value).is_some() && date(policy_value) == date(value),
        DateLessThan => cmp(date(value), date(policy_value), |a, b| a < b),
        DateLessThanEquals => cmp(date(value), date(policy_value), |a, b| a <= b),
        DateGreaterThan => cmp(date(value), date(policy_value), |a, b| a > b),
        DateGreaterThanEquals => cmp(date(value), date(policy_value), |a, b| a >= b),
        IpAddress => in_cidr(policy_value, value),
        // Negated forms never reach here (see `positive_base`); `Null` is decided above.
        _ => false,
    }
}

fn cmp<T: Copy>(a: Option<T>, b: Option<T>, f: impl Fn(T, T) -> bool) -> bool {
    matches!((a, b), (Some(a), Some(b)) if f(a, b))
}

/// Whether the address `ip` lies in `cidr` (`10.0.0.0/8`, `2001:db8::/32`, or one address).
pub fn in_cidr(cidr: &str, ip: &str) -> bool {
    super::cidr::Cidr::parse(cidr).is_some_and(|c| c.contains(ip))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::parse_policy;

    const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/k";

    fn iam(account: &str) -> Caller {
        Caller::Iam {
            arn: format!("arn:aws:iam::{account}:role/R"),
            account: account.into(),
        }
    }

    fn request(caller: Caller, action: &str, context: &[(&str, &str)]) -> Request {
        Request {
            caller,
            action: action.into(),
            context: context
                .iter()
                .map(|(k, v)| (k.to_string(), vec![v.to_string()]))
                .collect(),
        }
    }

    #[test]
    fn deny_wins_allow_needs_a_match() {
        let p = parse_policy(r#"{"Statement":[
            {"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-a"}}},
            {"Effect":"Deny","Principal":"*","Action":"kms:Decrypt","Resource":"*","Condition":{"StringNotEquals":{"aws:SourceVpce":"vpce-1"}}}]}"#).unwrap();
        let org = ("aws:principalorgid", "o-a");
        let vpce = ("aws:sourcevpce", "vpce-1");
        assert_eq!(
            decide(
                &p,
                KEY,
                &request(iam("999988887777"), "kms:Encrypt", &[org])
            ),
            Decision::Allow
        );
        assert_eq!(
            decide(&p, KEY, &request(iam("999988887777"), "kms:Encrypt", &[])),
            Decision::ImplicitDeny
        );
        assert_eq!(
            decide(
                &p,
                KEY,
                &request(iam("999988887777"), "kms:Decrypt", &[org])
            ),
            Decision::ExplicitDeny
        );
        assert_eq!(
            decide(
                &p,
                KEY,
                &request(iam("999988887777"), "kms:Decrypt", &[org, vpce])
            ),
            Decision::Allow
        );
    }

    #[test]
    fn absent_keys_if_exists_and_set_qualifiers() {
        let holds_for = |cond: &str, ctx: &[(&str, &str)]| {
            let p = parse_policy(&format!(
                r#"{{"Statement":[{{"Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*","Condition":{cond}}}]}}"#
            ))
            .unwrap();
            decide(&p, KEY, &request(iam("999988887777"), "kms:Decrypt", ctx)) == Decision::Allow
        };
        assert!(!holds_for(
            r#"{"StringEquals":{"aws:SourceVpce":"v"}}"#,
            &[]
        ));
        assert!(holds_for(
            r#"{"StringNotEquals":{"aws:SourceVpce":"v"}}"#,
            &[]
        ));
        assert!(holds_for(
            r#"{"StringEqualsIfExists":{"aws:SourceVpce":"v"}}"#,
            &[]
        ));
        assert!(holds_for(
            r#"{"ForAllValues:StringEquals":{"aws:TagKeys":"a"}}"#,
            &[]
        ));
        assert!(!holds_for(
            r#"{"ForAnyValue:StringEquals":{"aws:TagKeys":"a"}}"#,
            &[]
        ));
        assert!(holds_for(r#"{"Null":{"aws:SourceVpce":"true"}}"#, &[]));
        assert!(holds_for(
            r#"{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}"#,
            &[("aws:sourceip", "10.1.2.3")]
        ));
        assert!(!holds_for(
            r#"{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}"#,
            &[("aws:sourceip", "11.1.2.3")]
        ));
        assert!(holds_for(
            r#"{"StringLike":{"aws:userid":"AROA*:alice"}}"#,
            &[("aws:userid", "AROAX:alice")]
        ));
    }

    #[test]
    fn principals_and_not_principal() {
        let p = parse_policy(r#"{"Statement":[{"Effect":"Allow","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:Decrypt","Resource":"*"}]}"#).unwrap();
        assert_eq!(
            decide(&p, KEY, &request(iam("111122223333"), "kms:Decrypt", &[])),
            Decision::ImplicitDeny
        );
        assert_eq!(
            decide(&p, KEY, &request(iam("999988887777"), "kms:Decrypt", &[])),
            Decision::Allow
        );
        assert_eq!(
            decide(
                &p,
                KEY,
                &request(
                    Caller::Service("logs.amazonaws.com".into()),
                    "kms:Decrypt",
                    &[]
                )
            ),
            Decision::Allow
        );
        assert!(
            in_cidr("2001:db8::/32", "2001:db8:1::1") && !in_cidr("2001:db8::/32", "2001:db9::1")
        );
    }
}
