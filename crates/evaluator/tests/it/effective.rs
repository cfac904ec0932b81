//! Effective access cases (`tes../effective/access.toml`): a small organization per case
//! (IAM identities, SCPs, RCPs, keys with policies and grants) and the access rows it must
//! and must not produce.

use std::collections::BTreeMap;
use std::sync::Arc;

use kmsaudit_evaluator::effective_access;
use kmsaudit_model::*;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    case: Vec<Case>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    #[serde(default)]
    source: String,
    /// The accounts of the organization `o-exampleorg` (management: 999999999999); none: no
    /// organization.
    #[serde(default)]
    account: Vec<AccountCase>,
    /// OU id → parent id (the root is `r-root`).
    #[serde(default)]
    ous: BTreeMap<String, String>,
    #[serde(default)]
    no_org: bool,
    /// SCPs and RCPs were not read.
    #[serde(default)]
    org_policies_unread: bool,
    /// ListRoots failed: the root's enabled policy types are unknown (none listed, an error).
    #[serde(default)]
    org_root_unlisted: bool,
    /// Targets FullAWSAccess is detached from (it is attached to every OU and account, as
    /// Organizations does by default).
    #[serde(default)]
    detach_full_access: Vec<String>,
    #[serde(default)]
    scp: Vec<OrgPolicyCase>,
    #[serde(default)]
    rcp: Vec<OrgPolicyCase>,
    #[serde(default)]
    aws_managed: Vec<ManagedCase>,
    key: Vec<KeyCase>,
    /// `PRINCIPAL-SUFFIX CAPABILITY VERDICT`: a row that must be there.
    #[serde(default)]
    expect: Vec<String>,
    /// `PRINCIPAL-SUFFIX CAPABILITY`: no row at all.
    #[serde(default)]
    absent: Vec<String>,
    /// `PRINCIPAL-SUFFIX CAPABILITY TEXT`: the row's path contains TEXT.
    #[serde(default)]
    via: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountCase {
    id: String,
    #[serde(default = "root")]
    parent: String,
    /// IAM not readable (AccessDenied).
    #[serde(default)]
    iam_denied: bool,
    /// IAM not collected for this account (`iam` absent).
    #[serde(default)]
    iam_missing: bool,
    #[serde(default)]
    principal: Vec<PrincipalCase>,
    #[serde(default)]
    group: Vec<GroupCase>,
    #[serde(default)]
    managed: Vec<ManagedCase>,
}

fn root() -> String {
    "r-root".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PrincipalCase {
    arn: String,
    #[serde(default)]
    policies: Vec<String>,
    #[serde(default)]
    attached: Vec<String>,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    boundary: Option<String>,
    #[serde(default)]
    trust: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupCase {
    name: String,
    #[serde(default)]
    policies: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ManagedCase {
    arn: String,
    document: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OrgPolicyCase {
    name: String,
    targets: Vec<String>,
    document: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyCase {
    arn: String,
    #[serde(default)]
    policy: Option<String>,
    #[serde(default)]
    aws_managed: bool,
    #[serde(default)]
    grant: Vec<GrantCase>,
    /// ListGrants failed.
    #[serde(default)]
    grants_unread: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GrantCase {
    id: String,
    grantee: String,
    operations: Vec<String>,
    #[serde(default)]
    encryption_context: BTreeMap<String, String>,
}

const MANAGEMENT: &str = "999999999999";
const FULL_ACCESS: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
const RCP_FULL_ACCESS: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}]}"#;

fn snapshot(case: &Case) -> Snapshot {
    let mut accounts = vec![];
    let mut parents = BTreeMap::new();
    for (ou, parent) in &case.ous {
        parents.insert(ou.clone(), parent.clone());
    }
    let mut all_ids: Vec<String> = case.account.iter().map(|a| a.id.clone()).collect();
    if !all_ids.iter().any(|a| a == MANAGEMENT) {
        all_ids.push(MANAGEMENT.into());
    }
    for a in &case.account {
        parents.insert(a.id.clone(), a.parent.clone());
        let iam = (!a.iam_missing).then(|| IamRecord {
            principals: a
                .principal
                .iter()
                .map(|p| IamPrincipal {
                    arn: p.arn.clone(),
                    kind: if p.arn.contains(":user/") {
                        IamPrincipalKind::User
                    } else {
                        IamPrincipalKind::Role
                    },
                    inline_policies: p
                        .policies
                        .iter()
                        .enumerate()
                        .map(|(i, d)| InlinePolicy {
                            name: format!("inline{i}"),
                            document: Arc::from(d.as_str()),
                        })
                        .collect(),
                    attached_policies: p.attached.clone(),
                    groups: p.groups.clone(),
                    boundary: p.boundary.clone(),
                    trust_policy: p.trust.as_deref().map(Arc::from),
                })
                .collect(),
            groups: a
                .group
                .iter()
                .map(|g| IamGroup {
                    name: g.name.clone(),
                    arn: format!("arn:aws:iam::{}:group/{}", a.id, g.name),
                    inline_policies: g
                        .policies
                        .iter()
                        .enumerate()
                        .map(|(i, d)| InlinePolicy {
                            name: format!("group-inline{i}"),
                            document: Arc::from(d.as_str()),
                        })
                        .collect(),
                    attached_policies: vec![],
                })
                .collect(),
            managed_policies: a
                .managed
                .iter()
                .map(|m| ManagedPolicy {
                    arn: m.arn.clone(),
                    name: m.arn.rsplit('/').next().unwrap().into(),
                    document: Arc::from(m.document.as_str()),
                })
                .collect(),
            errors: if a.iam_denied {
                vec![Issue::new(
                    "IAM.GetAccountAuthorizationDetails",
                    "AccessDenied",
                    "denied",
                )]
            } else {
                vec![]
            },
        });
        let keys: Vec<KeyRecord> = case
            .key
            .iter()
            .filter(|k| arn_account(&k.arn) == Some(a.id.as_str()))
            .map(key_record)
            .collect();
        accounts.push(fixtures::scanned_account(&a.id, !case.no_org, keys, iam));
    }
    let mut policies = vec![OrgPolicy {
        id: "p-FullAWSAccess".into(),
        name: "FullAWSAccess".into(),
        kind: OrgPolicyKind::ServiceControlPolicy,
        document: Arc::from(FULL_ACCESS),
        targets: std::iter::once("r-root".to_string())
            .chain(case.ous.keys().cloned())
            .chain(case.account.iter().map(|a| a.id.clone()))
            .filter(|t| !case.detach_full_access.contains(t))
            .collect(),
    }];
    policies.push(OrgPolicy {
        id: "p-RCPFullAWSAccess".into(),
        name: "RCPFullAWSAccess".into(),
        kind: OrgPolicyKind::ResourceControlPolicy,
        document: Arc::from(RCP_FULL_ACCESS),
        targets: vec!["r-root".into()],
    });
    for (kind, list) in [
        (OrgPolicyKind::ServiceControlPolicy, &case.scp),
        (OrgPolicyKind::ResourceControlPolicy, &case.rcp),
    ] {
        for p in list {
            policies.push(OrgPolicy {
                id: format!("p-{}", p.name),
                name: p.name.clone(),
                kind,
                document: Arc::from(p.document.as_str()),
                targets: p.targets.clone(),
            });
        }
    }
    Snapshot {
        schema_version: SCHEMA_VERSION,
        metadata: ScanMetadata {
            started_at: "2026-12-01T00:00:00Z".parse().unwrap(),
            finished_at: "2026-12-01T00:01:00Z".parse().unwrap(),
            ..Default::default()
        },
        organization: (!case.no_org).then(|| Organization {
            id: "o-exampleorg".into(),
            management_account_id: MANAGEMENT.into(),
            policies: (!case.org_policies_unread).then(|| OrgPolicies {
                root_id: "r-root".into(),
                enabled: if case.org_root_unlisted {
                    vec![]
                } else {
                    vec![
                        OrgPolicyKind::ServiceControlPolicy,
                        OrgPolicyKind::ResourceControlPolicy,
                    ]
                },
                parents,
                policies,
                errors: if case.org_root_unlisted {
                    vec![Issue::new(
                        "Organizations.ListRoots",
                        "TooManyRequestsException",
                        "Rate exceeded",
                    )]
                } else {
                    vec![]
                },
            }),
            ..Default::default()
        }),
        accounts,
        aws_managed_policies: case
            .aws_managed
            .iter()
            .map(|m| ManagedPolicy {
                arn: m.arn.clone(),
                name: m.arn.rsplit('/').next().unwrap().into(),
                document: Arc::from(m.document.as_str()),
            })
            .collect(),
    }
}

fn key_record(k: &KeyCase) -> KeyRecord {
    let mut key = kmsaudit_model::fixtures::customer_key(&k.arn);
    if k.aws_managed {
        if let Some(m) = &mut key.metadata {
            m.key_manager = "AWS".into();
        }
    }
    key.policy = k.policy.as_deref().map(Arc::from);
    if k.policy.is_none() {
        key.errors.push(Issue::new(
            "KMS.GetKeyPolicy",
            "AccessDeniedException",
            "denied",
        ));
    }
    if k.grants_unread {
        key.errors.push(Issue::new(
            "KMS.ListGrants",
            "ThrottlingException",
            "slow down",
        ));
        return key;
    }
    key.grants = Some(
        k.grant
            .iter()
            .map(|g| Grant {
                grant_id: g.id.clone(),
                name: None,
                grantee_principal: Some(g.grantee.clone()),
                retiring_principal: None,
                issuing_account: None,
                operations: g.operations.clone(),
                constraints: (!g.encryption_context.is_empty()).then(|| GrantConstraints {
                    encryption_context_subset: g.encryption_context.clone(),
                    encryption_context_equals: BTreeMap::new(),
                }),
                creation_date: None,
            })
            .collect(),
    );
    key
}

#[test]
fn effective_access_cases() {
    let text = include_str!("../effective/access.toml");
    let file: File = toml::from_str(text).expect("effective/access.toml parses");
    let mut failures = vec![];
    for case in &file.case {
        let rows = effective_access(&snapshot(case)).to_rows();
        let show = || {
            rows.iter()
                .map(|r| {
                    format!(
                        "    {} {} {} via {} {:?}",
                        r.principal,
                        r.capability.as_str(),
                        r.verdict.as_str(),
                        r.via,
                        r.conditions
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")
        };
        let find = |who: &str, cap: &str| {
            rows.iter()
                .find(|r| r.principal.ends_with(who) && r.capability.as_str() == cap)
        };
        for e in &case.expect {
            let parts: Vec<&str> = e.split_whitespace().collect();
            let [who, cap, verdict] = parts[..] else {
                panic!("{}: bad expectation `{e}`", case.name)
            };
            match find(who, cap) {
                Some(r) if r.verdict.as_str() == verdict => {}
                other => failures.push(format!(
                    "{} ({}): expected `{e}`, found {:?}\n{}",
                    case.name,
                    case.source,
                    other.map(|r| r.verdict.as_str()),
                    show()
                )),
            }
        }
        for a in &case.absent {
            let parts: Vec<&str> = a.split_whitespace().collect();
            let [who, cap] = parts[..] else {
                panic!("{}: bad absence `{a}`", case.name)
            };
            if let Some(r) = find(who, cap) {
                failures.push(format!(
                    "{}: expected no `{a}`, found {} via {}\n{}",
                    case.name,
                    r.verdict.as_str(),
                    r.via,
                    show()
                ));
            }
        }
        for v in &case.via {
            let mut parts = v.splitn(3, ' ');
            let (who, cap, text) = (
                parts.next().unwrap(),
                parts.next().unwrap(),
                parts.next().unwrap(),
            );
            match find(who, cap) {
                Some(r)
                    if r.via.contains(text) || r.conditions.iter().any(|c| c.contains(text)) => {}
                other => failures.push(format!(
                    "{}: expected `{who} {cap}` via `{text}`, found {:?}\n{}",
                    case.name,
                    other.map(|r| (&r.via, &r.conditions)),
                    show()
                )),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
