//! Edits on a key policy's JSON: the candidate changes a fix tries, smallest first. Each edit
//! returns the edited policy and what it did in words, or `None` when it does not apply. Whether
//! an edit is good is not decided here: `fix/mod.rs` re-analyses every candidate.

use serde_json::{json, Map, Value};

use crate::policy::ActionSet;

/// What the edits need to know of the key.
pub(super) struct Target<'a> {
    pub org_id: Option<&'a str>,
    pub key_account: Option<&'a str>,
    /// Accounts outside the organization and the trusted accounts.
    pub external_accounts: &'a [String],
}

/// An edit: the edited policy and what it did in words, or `None` when it does not apply.
type Edit = fn(&Value, &[usize], &Target<'_>) -> Option<(Value, String)>;

/// One candidate: a name for explanations and the edit.
pub(super) type Candidate = (&'static str, Edit);

/// The candidates for a rule's findings, in the order they are tried.
pub(super) fn candidates(rule_id: &str) -> &'static [Candidate] {
    match rule_id {
        "KMS-POLICY-PUBLIC" => &[
            ("pin to the organization", pin_to_org),
            ("pin to the key account", pin_to_account),
        ],
        "KMS-POLICY-EXTERNAL" => &[("drop outside principals", drop_outsiders)],
        "KMS-POLICY-WILDCARD" => &[
            ("narrow kms:* to administration", narrow_to_admin),
            ("narrow kms:* to use", narrow_to_use),
        ],
        "KMS-POLICY-SOD" => &[
            ("split use from administration", drop_use),
            ("split administration from use", drop_admin),
            (
                "split administration from use, grants constrained",
                drop_admin_split_grants,
            ),
        ],
        "KMS-POLICY-PUTPOLICY" => &[
            ("drop kms:PutKeyPolicy", drop_put_policy),
            (
                "drop kms:PutKeyPolicy, grants constrained",
                drop_put_policy_split_grants,
            ),
        ],
        "KMS-POLICY-ADMIN-ALLOWLIST" => &[
            ("drop administration", drop_admin),
            (
                "drop administration, grants constrained",
                drop_admin_split_grants,
            ),
        ],
        "KMS-POLICY-GRANT-UNCONSTRAINED" => &[
            ("add kms:GrantIsForAWSResource", require_aws_resource),
            ("split grants into a constrained statement", split_grants),
        ],
        _ => &[],
    }
}

/// Why a rule has no candidate edit.
pub(super) fn no_edit_reason(rule_id: &str) -> &'static str {
    match rule_id {
        "KMS-POLICY-IAM-DELEGATION" => "removing the account root's statement hands the key to the principals named in the policy alone and can lock the account out; decide it by hand",
        "KMS-POLICY-PRINCIPALS-MANY" => "which principals the key should keep is a decision about the workload, not something the policy text says",
        "KMS-POLICY-NO-EFFECT" => "a statement that cannot take effect changes nothing; remove or correct it by hand once its intent is known",
        "KMS-POLICY-UNPARSEABLE" => "a policy the engine cannot read cannot be proven right after an edit",
        _ => "no automatic edit is known for this rule",
    }
}

/// The AWS default key policy's "Allow access for Key Administrators" actions, without the
/// ones that create grants (a grant is use).
const ADMIN_ACTIONS: [&str; 15] = [
    "kms:CancelKeyDeletion",
    "kms:CreateAlias",
    "kms:Delete*",
    "kms:Describe*",
    "kms:Disable*",
    "kms:Enable*",
    "kms:Get*",
    "kms:List*",
    "kms:Put*",
    "kms:Revoke*",
    "kms:RotateKeyOnDemand",
    "kms:ScheduleKeyDeletion",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:Update*",
];

/// The AWS default key policy's "Allow use of the key" actions.
const USE_ACTIONS: [&str; 5] = [
    "kms:Decrypt",
    "kms:DescribeKey",
    "kms:Encrypt",
    "kms:GenerateDataKey*",
    "kms:ReEncrypt*",
];

/// The policy's statements as an array (a lone statement object becomes a one-element array).
fn statements_mut(policy: &mut Value) -> Option<&mut Vec<Value>> {
    let st = policy.get_mut("Statement")?;
    if st.is_object() {
        *st = Value::Array(vec![st.take()]);
    }
    st.as_array_mut()
}

/// Applies `edit` to each statement at `indices`; `None` when no statement changed.
fn edit_statements(
    policy: &Value,
    indices: &[usize],
    edit: impl Fn(&mut Map<String, Value>) -> bool,
) -> Option<Value> {
    let mut out = policy.clone();
    let statements = statements_mut(&mut out)?;
    let mut changed = false;
    for &i in indices {
        if let Some(Value::Object(st)) = statements.get_mut(i) {
            if st.get("Effect").and_then(Value::as_str) == Some("Allow") {
                changed |= edit(st);
            }
        }
    }
    changed.then_some(out)
}

fn is_anyone(p: &Value) -> bool {
    match p {
        Value::String(s) => s == "*",
        Value::Object(m) => m.get("AWS").is_some_and(|aws| match aws {
            Value::String(s) => s == "*",
            Value::Array(a) => a.iter().any(|v| v == "*"),
            _ => false,
        }),
        _ => false,
    }
}

/// `Condition.<operator>.<key> = value`, replacing what the key held under that operator.
fn add_condition(st: &mut Map<String, Value>, operator: &str, key: &str, value: Value) {
    let condition = st
        .entry("Condition")
        .or_insert_with(|| Value::Object(Map::new()));
    if !condition.is_object() {
        *condition = Value::Object(Map::new());
    }
    let block = condition
        .as_object_mut()
        .expect("made an object above")
        .entry(operator)
        .or_insert_with(|| Value::Object(Map::new()));
    if !block.is_object() {
        *block = Value::Object(Map::new());
    }
    block
        .as_object_mut()
        .expect("made an object above")
        .insert(key.to_string(), value);
}

/// Adds `StringEquals key = value` to the statements open to anyone.
fn pin(policy: &Value, indices: &[usize], key: &str, value: &str) -> Option<Value> {
    edit_statements(policy, indices, |st| {
        if !st.get("Principal").is_some_and(is_anyone) {
            return false;
        }
        add_condition(st, "StringEquals", key, json!(value));
        true
    })
}

fn pin_to_org(policy: &Value, indices: &[usize], t: &Target<'_>) -> Option<(Value, String)> {
    let org = t.org_id?;
    let out = pin(policy, indices, "aws:PrincipalOrgID", org)?;
    Some((
        out,
        format!(
            "pinned the statements open to anyone to the organization {org} (aws:PrincipalOrgID)"
        ),
    ))
}

fn pin_to_account(policy: &Value, indices: &[usize], t: &Target<'_>) -> Option<(Value, String)> {
    let account = t.key_account?;
    let out = pin(policy, indices, "aws:PrincipalAccount", account)?;
    Some((out, format!("pinned the statements open to anyone to the key account {account} (aws:PrincipalAccount)")))
}

/// The account a principal string names, if any.
fn account_of(p: &str) -> Option<&str> {
    if p.len() == 12 && p.bytes().all(|b| b.is_ascii_digit()) {
        return Some(p);
    }
    let mut parts = p.split(':');
    (parts.next() == Some("arn")).then_some(())?;
    parts.nth(3).filter(|a| !a.is_empty())
}

fn drop_outsiders(policy: &Value, _indices: &[usize], t: &Target<'_>) -> Option<(Value, String)> {
    let outside = |v: &Value| {
        v.as_str()
            .and_then(account_of)
            .is_some_and(|a| t.external_accounts.iter().any(|e| e == a))
    };
    let mut out = policy.clone();
    let statements = statements_mut(&mut out)?;
    let mut dropped: Vec<String> = vec![];
    let mut emptied = 0;
    statements.retain_mut(|st| {
        // A Deny naming an outsider only takes access away.
        if st.get("Effect").and_then(Value::as_str) != Some("Allow") {
            return true;
        }
        let Some(aws) = st.pointer_mut("/Principal/AWS") else {
            return true;
        };
        let list: Vec<Value> = match aws.take() {
            Value::Array(a) => a,
            v => vec![v],
        };
        let (gone, kept): (Vec<Value>, Vec<Value>) = list.into_iter().partition(outside);
        dropped.extend(gone.iter().filter_map(|v| v.as_str().map(str::to_string)));
        *aws = match kept.len() {
            0 => Value::Null,
            1 => kept.into_iter().next().expect("one"),
            _ => Value::Array(kept),
        };
        if aws.is_null() {
            emptied += 1;
            return false;
        }
        true
    });
    if dropped.is_empty() {
        return None;
    }
    let mut what = format!(
        "dropped the principals outside the organization: {}",
        dropped.join(", ")
    );
    if emptied > 0 {
        what.push_str(&format!(
            " ({emptied} statement(s) left with no principal removed)"
        ));
    }
    Some((out, what))
}

/// The statement's actions as a set; `None` for `NotAction` or an unreadable `Action`.
fn action_set(st: &Map<String, Value>) -> Option<ActionSet> {
    if st.contains_key("NotAction") {
        return None;
    }
    let names: Vec<&str> = match st.get("Action")? {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => a.iter().map(Value::as_str).collect::<Option<_>>()?,
        _ => return None,
    };
    Some(
        names
            .iter()
            .fold(ActionSet::EMPTY, |acc, n| acc.union(ActionSet::matching(n))),
    )
}

fn write_actions(st: &mut Map<String, Value>, names: Vec<String>) {
    st.insert(
        "Action".into(),
        match names.len() {
            1 => Value::String(names.into_iter().next().expect("one")),
            _ => Value::Array(names.into_iter().map(Value::String).collect()),
        },
    );
}

/// Removes `drop` from the statements' actions, written out by name; a statement left with
/// nothing is removed.
fn drop_actions(policy: &Value, indices: &[usize], drop: ActionSet) -> Option<Value> {
    let mut out = policy.clone();
    let statements = statements_mut(&mut out)?;
    let mut changed = false;
    let mut removed = vec![];
    for &i in indices {
        let Some(Value::Object(st)) = statements.get_mut(i) else {
            continue;
        };
        if st.get("Effect").and_then(Value::as_str) != Some("Allow") {
            continue;
        }
        let Some(set) = action_set(st) else { continue };
        if !set.overlaps(drop) {
            continue;
        }
        changed = true;
        let left = set.minus(drop);
        if left.is_empty() {
            removed.push(i);
        } else {
            write_actions(st, left.names());
        }
    }
    removed.sort_unstable();
    for i in removed.into_iter().rev() {
        statements.remove(i);
    }
    changed.then_some(out)
}

fn replace_wildcard(policy: &Value, indices: &[usize], with: &[&str]) -> Option<Value> {
    edit_statements(policy, indices, |st| {
        if !action_set(st).is_some_and(ActionSet::is_all) {
            return false;
        }
        write_actions(st, with.iter().map(|s| s.to_string()).collect());
        true
    })
}

fn narrow_to_admin(policy: &Value, indices: &[usize], _t: &Target<'_>) -> Option<(Value, String)> {
    let out = replace_wildcard(policy, indices, &ADMIN_ACTIONS)?;
    Some((out, "replaced kms:* with the key administrators' actions of AWS's default key policy (no cryptographic use, no grants)".into()))
}

fn narrow_to_use(policy: &Value, indices: &[usize], _t: &Target<'_>) -> Option<(Value, String)> {
    let out = replace_wildcard(policy, indices, &USE_ACTIONS)?;
    Some((
        out,
        "replaced kms:* with the key users' actions of AWS's default key policy".into(),
    ))
}

fn drop_use(policy: &Value, indices: &[usize], _t: &Target<'_>) -> Option<(Value, String)> {
    let out = drop_actions(policy, indices, ActionSet::crypto())?;
    Some((
        out,
        "removed the cryptographic actions from the statement that also grants administration"
            .into(),
    ))
}

fn drop_admin(policy: &Value, indices: &[usize], _t: &Target<'_>) -> Option<(Value, String)> {
    let out = drop_actions(policy, indices, ActionSet::administration())?;
    Some((
        out,
        "removed the administration actions from the statement".into(),
    ))
}

fn drop_put_policy(policy: &Value, indices: &[usize], _t: &Target<'_>) -> Option<(Value, String)> {
    let out = drop_actions(policy, indices, ActionSet::policy_change())?;
    Some((out, "removed kms:PutKeyPolicy from the statement".into()))
}

fn require_aws_resource(
    policy: &Value,
    indices: &[usize],
    _t: &Target<'_>,
) -> Option<(Value, String)> {
    let out = edit_statements(policy, indices, |st| {
        add_condition(st, "Bool", "kms:GrantIsForAWSResource", json!("true"));
        true
    })?;
    Some((out, "added Bool kms:GrantIsForAWSResource true: grants only for AWS services integrated with KMS".into()))
}

fn split_grants(policy: &Value, indices: &[usize], _t: &Target<'_>) -> Option<(Value, String)> {
    let grants = ActionSet::of(&["CreateGrant", "ListGrants", "RevokeGrant"]);
    let mut out = policy.clone();
    let statements = statements_mut(&mut out)?;
    let mut added = vec![];
    for &i in indices {
        let Some(Value::Object(st)) = statements.get_mut(i) else {
            continue;
        };
        let Some(set) = action_set(st) else { continue };
        if !set.overlaps(grants) || st.get("Effect").and_then(Value::as_str) != Some("Allow") {
            continue;
        }
        let mut split = st.clone();
        write_actions(st, set.minus(grants).names());
        split.insert(
            "Sid".into(),
            json!(format!(
                "{}Grants",
                st.get("Sid").and_then(Value::as_str).unwrap_or("Statement")
            )),
        );
        write_actions(&mut split, set.intersect(grants).names());
        add_condition(
            &mut split,
            "Bool",
            "kms:GrantIsForAWSResource",
            json!("true"),
        );
        added.push(Value::Object(split));
    }
    if added.is_empty() {
        return None;
    }
    statements.extend(added);
    Some((out, "moved the grant actions to a statement of their own with Bool kms:GrantIsForAWSResource true".into()))
}

/// `first`, then the grant split on the same statements: a principal that loses
/// administration also loses the exemption of administrators from KMS-POLICY-GRANT-UNCONSTRAINED.
fn then_split_grants(
    first: Edit,
    policy: &Value,
    indices: &[usize],
    t: &Target<'_>,
) -> Option<(Value, String)> {
    let (edited, what) = first(policy, indices, t)?;
    let (split, how) = split_grants(&edited, indices, t)?;
    Some((split, format!("{what}; {how}")))
}

fn drop_admin_split_grants(
    policy: &Value,
    indices: &[usize],
    t: &Target<'_>,
) -> Option<(Value, String)> {
    then_split_grants(drop_admin, policy, indices, t)
}

fn drop_put_policy_split_grants(
    policy: &Value,
    indices: &[usize],
    t: &Target<'_>,
) -> Option<(Value, String)> {
    then_split_grants(drop_put_policy, policy, indices, t)
}
