//! IAM and the organization's policies for a synthetic organization (benchmarks of effective
//! access): per account, `principals` users and roles as a scan keeps them (statements that
//! can match `kms:` or `sts:AssumeRole`), an SCP on the root and on a workloads OU, an RCP
//! keeping keys to the organization.
//!
//! Per account: a KeyAdmin role (key administration on the account's keys, trusted by the
//! account), an App role (use of the account's keys, trusted by EC2), an Admin role with
//! AdministratorAccess (trusted by the management account), a Reader role with Decrypt on the
//! next account's keys; one principal in twenty may assume App; the rest hold no statement a
//! key can see (their policies are about other services).

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::*;

const ADMIN_ACCESS: &str = "arn:aws:iam::aws:policy/AdministratorAccess";

fn doc(statements: &str) -> Arc<str> {
    Arc::from(format!(r#"{{"Version":"2012-10-17","Statement":[{statements}]}}"#).as_str())
}

fn role(
    arn: String,
    policies: Vec<InlinePolicy>,
    attached: Vec<String>,
    trust: Arc<str>,
) -> IamPrincipal {
    IamPrincipal {
        arn,
        kind: IamPrincipalKind::Role,
        inline_policies: policies,
        attached_policies: attached,
        groups: vec![],
        boundary: None,
        trust_policy: Some(trust),
    }
}

fn inline(name: &str, document: Arc<str>) -> Vec<InlinePolicy> {
    vec![InlinePolicy {
        name: name.into(),
        document,
    }]
}

/// Adds IAM (`principals` per account) and SCPs/RCPs to `snapshot`.
pub fn with_iam(snapshot: &mut Snapshot, principals: usize) {
    let ids: Vec<String> = snapshot.accounts.iter().map(|a| a.id.clone()).collect();
    let management = snapshot
        .organization
        .as_ref()
        .map(|o| o.management_account_id.clone())
        .unwrap_or_default();
    for (n, account) in snapshot.accounts.iter_mut().enumerate() {
        let a = account.id.clone();
        let next = &ids[(n + 1) % ids.len()];
        let trust_account = doc(&format!(
            r#"{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{a}:root"}},"Action":"sts:AssumeRole"}}"#
        ));
        let mut list = vec![
            role(
                format!("arn:aws:iam::{a}:role/KeyAdmin"),
                inline(
                    "kms-admin",
                    doc(&format!(
                        r#"{{"Effect":"Allow","Action":["kms:Create*","kms:Describe*","kms:Enable*","kms:List*","kms:Put*","kms:Update*","kms:Revoke*","kms:Disable*","kms:Get*","kms:Delete*","kms:ScheduleKeyDeletion","kms:CancelKeyDeletion"],"Resource":"arn:aws:kms:*:{a}:key/*"}}"#
                    )),
                ),
                vec![],
                trust_account.clone(),
            ),
            role(
                format!("arn:aws:iam::{a}:role/App"),
                inline(
                    "kms-use",
                    doc(&format!(
                        r#"{{"Effect":"Allow","Action":["kms:Decrypt","kms:Encrypt","kms:GenerateDataKey*"],"Resource":"arn:aws:kms:*:{a}:key/*"}}"#
                    )),
                ),
                vec![],
                doc(
                    r#"{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}"#,
                ),
            ),
            role(
                format!("arn:aws:iam::{a}:role/Admin"),
                vec![],
                vec![ADMIN_ACCESS.into()],
                doc(&format!(
                    r#"{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{management}:root"}},"Action":"sts:AssumeRole"}}"#
                )),
            ),
            role(
                format!("arn:aws:iam::{a}:role/Reader"),
                inline(
                    "read-next",
                    doc(&format!(
                        r#"{{"Effect":"Allow","Action":"kms:Decrypt","Resource":"arn:aws:kms:*:{next}:key/*"}}"#
                    )),
                ),
                vec![],
                trust_account.clone(),
            ),
        ];
        for p in list.len()..principals {
            let assumes = p % 20 == 0;
            let policies = if assumes {
                inline(
                    "assume-app",
                    doc(&format!(
                        r#"{{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"arn:aws:iam::{a}:role/App"}}"#
                    )),
                )
            } else {
                vec![]
            };
            if p % 3 == 0 {
                list.push(IamPrincipal {
                    arn: format!("arn:aws:iam::{a}:user/u{p}"),
                    kind: IamPrincipalKind::User,
                    inline_policies: policies,
                    attached_policies: vec![],
                    groups: vec![],
                    boundary: None,
                    trust_policy: None,
                });
            } else {
                list.push(role(
                    format!("arn:aws:iam::{a}:role/r{p}"),
                    policies,
                    vec![],
                    trust_account.clone(),
                ));
            }
        }
        // Sorted as a scan keeps them.
        list.sort_by(|a, b| a.arn.cmp(&b.arn));
        account.iam = Some(IamRecord {
            principals: list,
            ..Default::default()
        });
    }
    snapshot.aws_managed_policies = vec![ManagedPolicy {
        arn: ADMIN_ACCESS.into(),
        name: "AdministratorAccess".into(),
        document: doc(r#"{"Effect":"Allow","Action":"*","Resource":"*"}"#),
    }];
    let mut parents = BTreeMap::new();
    parents.insert("ou-workloads".to_string(), "r-root".to_string());
    for id in &ids {
        let parent = if *id == management {
            "r-root"
        } else {
            "ou-workloads"
        };
        parents.insert(id.clone(), parent.to_string());
    }
    // The FullAWSAccess policies are attached to every root, OU and account, as AWS does.
    let everywhere: Vec<&str> = ["r-root", "ou-workloads"]
        .into_iter()
        .chain(ids.iter().map(String::as_str))
        .collect();
    let policy = |id: &str, name: &str, kind, text: &str, targets: &[&str]| {
        let mut targets: Vec<String> = targets.iter().map(|t| t.to_string()).collect();
        targets.sort();
        OrgPolicy {
            id: id.into(),
            name: name.into(),
            kind,
            document: doc(text),
            targets,
        }
    };
    if let Some(org) = snapshot.organization.as_mut() {
        let org_id = org.id.clone();
        org.policies = Some(OrgPolicies {
            root_id: "r-root".into(),
            enabled: vec![
                OrgPolicyKind::ServiceControlPolicy,
                OrgPolicyKind::ResourceControlPolicy,
            ],
            parents,
            policies: vec![
                policy(
                    "p-full",
                    "FullAWSAccess",
                    OrgPolicyKind::ServiceControlPolicy,
                    r#"{"Effect":"Allow","Action":"*","Resource":"*"}"#,
                    &everywhere,
                ),
                policy(
                    "p-protect",
                    "ProtectKeys",
                    OrgPolicyKind::ServiceControlPolicy,
                    r#"{"Effect":"Deny","Action":["kms:ScheduleKeyDeletion","kms:PutKeyPolicy"],"Resource":"*","Condition":{"ArnNotLike":{"aws:PrincipalArn":"arn:aws:iam::*:role/KeyAdmin"}}}"#,
                    &["ou-workloads"],
                ),
                policy(
                    "p-rcp-full",
                    "RCPFullAWSAccess",
                    OrgPolicyKind::ResourceControlPolicy,
                    r#"{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}"#,
                    &everywhere,
                ),
                policy(
                    "p-org-only",
                    "OrgOnlyKeys",
                    OrgPolicyKind::ResourceControlPolicy,
                    &format!(
                        r#"{{"Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*","Condition":{{"StringNotEqualsIfExists":{{"aws:PrincipalOrgID":"{org_id}"}},"BoolIfExists":{{"aws:PrincipalIsAWSService":"false"}}}}}}"#
                    ),
                    &["ou-workloads"],
                ),
            ],
            errors: vec![],
        });
        if let Some(tree) = org.policies.as_mut() {
            // Sorted by id, as a scan keeps them.
            tree.policies.sort_by(|a, b| a.id.cmp(&b.id));
        }
    }
}
