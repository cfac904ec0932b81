//! A synthetic organization for benchmarks (feature `fixtures`): the evaluator's and the report's.

use crate::*;

/// Policy templates, the first five the AWS default and console policies; `{A}` is the key's
/// account, `{B}` another account of the org.
pub const POLICY_TEMPLATES: &[&str] = &[
    // AWS default policy (the most common by far)
    r#"{"Version":"2012-10-17","Id":"key-default-1","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::{A}:root"},"Action":"kms:*","Resource":"*"}]}"#,
    r#"{"Version":"2012-10-17","Id":"key-default-1","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::{A}:root"},"Action":"kms:*","Resource":"*"}]}"#,
    r#"{"Version":"2012-10-17","Id":"key-default-1","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::{A}:root"},"Action":"kms:*","Resource":"*"}]}"#,
    // console default with administrators and users
    r#"{"Id":"key-consolepolicy-3","Version":"2012-10-17","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::{A}:root"},"Action":"kms:*","Resource":"*"},{"Sid":"Allow access for Key Administrators","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::{A}:role/KeyAdmin"},"Action":["kms:Create*","kms:Describe*","kms:Enable*","kms:List*","kms:Put*","kms:Update*","kms:Revoke*","kms:Disable*","kms:Get*","kms:Delete*","kms:TagResource","kms:UntagResource","kms:ScheduleKeyDeletion","kms:CancelKeyDeletion"],"Resource":"*"},{"Sid":"Allow use of the key","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::{A}:role/App"},"Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*","kms:DescribeKey"],"Resource":"*"},{"Sid":"Allow attachment of persistent resources","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::{A}:role/App"},"Action":["kms:CreateGrant","kms:ListGrants","kms:RevokeGrant"],"Resource":"*","Condition":{"Bool":{"kms:GrantIsForAWSResource":"true"}}}]}"#,
    r#"{"Id":"key-consolepolicy-3","Version":"2012-10-17","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::{A}:root"},"Action":"kms:*","Resource":"*"},{"Sid":"Allow access for Key Administrators","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::{A}:role/KeyAdmin"},"Action":["kms:Create*","kms:Describe*","kms:Enable*","kms:List*","kms:Put*","kms:Update*","kms:Revoke*","kms:Disable*","kms:Get*","kms:Delete*","kms:TagResource","kms:UntagResource","kms:ScheduleKeyDeletion","kms:CancelKeyDeletion"],"Resource":"*"},{"Sid":"Allow use of the key","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::{A}:role/App"},"Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*","kms:DescribeKey"],"Resource":"*"}]}"#,
    // AWS-managed-style: * pinned by kms:CallerAccount + kms:ViaService
    r#"{"Version":"2012-10-17","Id":"auto-ebs-2","Statement":[{"Sid":"Allow access through EBS for all principals in the account that are authorized to use EBS","Effect":"Allow","Principal":{"AWS":"*"},"Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*","kms:CreateGrant","kms:DescribeKey"],"Resource":"*","Condition":{"StringEquals":{"kms:CallerAccount":"{A}","kms:ViaService":"ec2.us-east-1.amazonaws.com"}}},{"Sid":"Allow direct access to key metadata to the account","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::{A}:root"},"Action":["kms:Describe*","kms:Get*","kms:List*","kms:RevokeGrant"],"Resource":"*"}]}"#,
    // org-wide read
    r#"{"Version":"2012-10-17","Statement":[{"Sid":"Root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::{A}:root"},"Action":"kms:*","Resource":"*"},{"Sid":"Org","Effect":"Allow","Principal":"*","Action":["kms:Decrypt","kms:DescribeKey"],"Resource":"*","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-benchorg"}}}]}"#,
    // cross-account inside the org
    r#"{"Version":"2012-10-17","Statement":[{"Sid":"Root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::{A}:root"},"Action":"kms:*","Resource":"*"},{"Sid":"Other","Effect":"Allow","Principal":{"AWS":["arn:aws:iam::{B}:root","arn:aws:iam::{B}:role/Reader"]},"Action":["kms:Decrypt","kms:DescribeKey"],"Resource":"*"}]}"#,
    // cloudtrail
    r#"{"Version":"2012-10-17","Statement":[{"Sid":"Root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::{A}:root"},"Action":"kms:*","Resource":"*"},{"Sid":"CloudTrail","Effect":"Allow","Principal":{"Service":"cloudtrail.amazonaws.com"},"Action":"kms:GenerateDataKey*","Resource":"*","Condition":{"StringEquals":{"aws:SourceArn":"arn:aws:cloudtrail:us-east-1:{A}:trail/main"},"StringLike":{"kms:EncryptionContext:aws:cloudtrail:arn":"arn:aws:cloudtrail:*:{A}:trail/*"}}},{"Sid":"Decrypt logs","Effect":"Allow","Principal":{"AWS":"*"},"Action":["kms:Decrypt","kms:ReEncryptFrom"],"Resource":"*","Condition":{"StringEquals":{"kms:CallerAccount":"{A}"},"StringLike":{"kms:EncryptionContext:aws:cloudtrail:arn":"arn:aws:cloudtrail:*:{A}:trail/*"}}}]}"#,
    // the bad ones, rarer
    r#"{"Version":"2012-10-17","Statement":[{"Sid":"Root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::{A}:root"},"Action":"kms:*","Resource":"*"},{"Sid":"Public","Effect":"Allow","Principal":{"AWS":"*"},"Action":"kms:Decrypt","Resource":"*","Condition":{"StringEquals":{"kms:ViaService":"s3.us-east-1.amazonaws.com"}}}]}"#,
    r#"{"Version":"2012-10-17","Statement":[{"Sid":"Root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::{A}:root"},"Action":"kms:*","Resource":"*"},{"Sid":"Partner","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::999988887777:role/Partner"},"Action":["kms:Decrypt","kms:GenerateDataKey*","kms:CreateGrant"],"Resource":"*"}]}"#,
    r#"{"Version":"2012-10-17","Statement":[{"Sid":"App","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::{A}:role/App"},"Action":"kms:*","Resource":"*"}]}"#,
];

/// A synthetic organization of `keys` customer-managed keys (about 2,000 per account, over three
/// regions) with a realistic mix: mostly default and console policies, some pinned to the
/// organization or an account, a few public or shared with an outside account; grants, some to
/// an outside account; rotation off on a third; a few disabled, pending deletion, multi-Region
/// or asymmetric keys. Deterministic: the same `keys` gives the same snapshot.
pub fn synthetic_org(keys: usize) -> Snapshot {
    synthetic_org_over((keys / 2_000).clamp(1, 1_000), keys)
}

/// [`synthetic_org`] with the keys spread over `accounts_n` accounts.
pub fn synthetic_org_over(accounts_n: usize, keys: usize) -> Snapshot {
    let accounts_n = accounts_n.max(1);
    let regions = ["us-east-1", "eu-west-1", "ap-southeast-2"];
    let per_account = keys.div_ceil(accounts_n);
    let mut accounts = Vec::with_capacity(accounts_n);
    let mut made = 0usize;
    for a in 0..accounts_n {
        let account = format!("{:012}", 100_000_000_000u64 + a as u64);
        let other = format!("{:012}", 100_000_000_000u64 + ((a + 1) % accounts_n) as u64);
        let mut region_records: Vec<RegionRecord> = regions
            .iter()
            .map(|r| RegionRecord {
                region: r.to_string(),
                access: RegionAccess::Scanned,
                aliases_error: None,
                keys: vec![],
                // The management account (the first) runs an organization analyzer everywhere.
                access_analyzer: Some(AccessAnalyzerRecord {
                    analyzers: match a {
                        0 => vec![Analyzer {
                            arn: format!("arn:aws:access-analyzer:{r}:{account}:analyzer/org"),
                            name: "org".into(),
                            analyzer_type: "ORGANIZATION".into(),
                            status: "ACTIVE".into(),
                        }],
                        _ => vec![],
                    },
                    ..Default::default()
                }),
            })
            .collect();
        for i in 0..per_account {
            if made == keys {
                break;
            }
            let n = made;
            made += 1;
            let region = regions[n % regions.len()];
            let key_id = format!("{:08x}-0000-4000-8000-{:012x}", n, n);
            let arn = format!("arn:aws:kms:{region}:{account}:key/{key_id}");
            let policy = POLICY_TEMPLATES[n % POLICY_TEMPLATES.len()]
                .replace("{A}", &account)
                .replace("{B}", &other);
            let grants: Vec<Grant> = (0..(n % 4))
                .map(|g| Grant {
                    grant_id: format!("{n:x}{g}"),
                    grantee_principal: Some(if g == 2 && n.is_multiple_of(50) {
                        "arn:aws:iam::999988887777:role/X".to_string()
                    } else {
                        format!("arn:aws:iam::{account}:role/Worker{g}")
                    }),
                    operations: vec!["Decrypt".into(), "Encrypt".into(), "GenerateDataKey".into()],
                    ..Default::default()
                })
                .collect();
            let (spec, usage) = if n.is_multiple_of(20) {
                ("RSA_2048", "SIGN_VERIFY")
            } else {
                ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT")
            };
            let state = match n % 100 {
                0 => "Disabled",
                1 => "PendingDeletion",
                _ => "Enabled",
            };
            region_records[n % regions.len()].keys.push(KeyRecord {
                arn: arn.clone(),
                key_id: key_id.clone(),
                metadata: Some(KeyMetadata {
                    key_id,
                    arn,
                    aws_account_id: account.clone(),
                    description: format!("key {i}"),
                    enabled: state == "Enabled",
                    key_state: state.into(),
                    key_usage: usage.into(),
                    key_spec: spec.into(),
                    key_manager: "CUSTOMER".into(),
                    origin: "AWS_KMS".into(),
                    multi_region: Some(n.is_multiple_of(30)),
                    ..Default::default()
                }),
                policy: Some(policy.into()),
                rotation: Some(RotationStatus {
                    enabled: !n.is_multiple_of(3),
                    period_days: Some(365),
                    next_rotation_date: None,
                }),
                grants: Some(grants),
                aliases: vec![format!("alias/app-{n}")],
                tags: Some(vec![Tag {
                    key: "owner".into(),
                    value: format!("team-{}", n % 7),
                }]),
                last_use: Some(LastUse {
                    state: synthetic_last_use(
                        (n as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15),
                        "2025-06-01T00:00:00Z".parse().unwrap(),
                        "2026-11-23T00:00:00Z".parse().unwrap(),
                    ),
                    read_at: "2026-11-23T00:00:00Z".parse().unwrap(),
                    from_baseline: false,
                }),
                errors: vec![],
                recent_events: None,
            });
        }
        accounts.push(AccountRecord {
            id: account,
            name: None,
            email: None,
            org_status: Some("ACTIVE".into()),
            access: AccountAccess::Scanned {
                via: "bench".into(),
            },
            regions_from: None,
            regions: region_records,
            iam: None,
            monitoring: None,
        });
    }
    Snapshot {
        schema_version: SCHEMA_VERSION,
        metadata: ScanMetadata {
            tool_name: "kmsaudit".into(),
            tool_version: "synthetic".into(),
            caller: Some(crate::CallerIdentity {
                account_id: format!("{:012}", 100_000_000_000u64),
                arn: format!(
                    "arn:aws:sts::{:012}:assumed-role/Audit/bench",
                    100_000_000_000u64
                ),
                ..Default::default()
            }),
            started_at: "2026-11-23T00:00:00Z".parse().unwrap(),
            finished_at: "2026-11-23T00:05:00Z".parse().unwrap(),
            scope: ScanScope {
                role_name: "OrganizationAccountAccessRole".into(),
                access_analyzer: true,
                last_use: true,
                ..Default::default()
            },
            ..Default::default()
        },
        organization: Some(Organization {
            id: "o-benchorg".into(),
            management_account_id: format!("{:012}", 100_000_000_000u64),
            ..Default::default()
        }),
        accounts,
        aws_managed_policies: vec![],
    }
}

/// A realistic mix of last-use answers, picked by `h` (any well-mixed number): 60 % used in the
/// 20 days before `now`, 12 % used 100 to 199 days before, 10 % never used since `created`, 18 %
/// nothing recorded since tracking began (23 April 2026).
pub fn synthetic_last_use(h: u64, created: Timestamp, now: Timestamp) -> LastUseState {
    let days_before = |d: u64| {
        Timestamp::from_second(now.as_second() - (d as i64) * 86_400 - (h % 86_000) as i64)
            .expect("a time after 1970")
    };
    let operations = ["Decrypt", "GenerateDataKey", "Encrypt", "ReEncrypt"];
    match h % 100 {
        0..60 => LastUseState::Used {
            operation: operations[(h >> 8) as usize % operations.len()].into(),
            at: days_before((h >> 16) % 20),
            cloudtrail_event_id: Some(format!(
                "{:08x}-0000-4000-8000-{:012x}",
                h >> 32,
                h & 0xffff_ffff_ffff
            )),
        },
        60..72 => LastUseState::Used {
            operation: "Decrypt".into(),
            at: days_before(100 + (h >> 16) % 100),
            cloudtrail_event_id: Some(format!(
                "{:08x}-0000-4000-8000-{:012x}",
                h >> 32,
                h & 0xffff_ffff_ffff
            )),
        },
        72..82 => LastUseState::NeverUsed { since: created },
        _ => LastUseState::NoRecordedUse {
            since: "2026-04-23T00:00:00Z".parse().expect("a valid time"),
        },
    }
}
