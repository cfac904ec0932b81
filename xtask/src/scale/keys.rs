//! The generated organization's keys: an AWS managed key, and customer-managed keys whose
//! spec, state, rotation, grants, aliases and tags follow from their number.

use std::collections::BTreeMap;

use kmsaudit_model::*;

use super::generate::{stamp, OUTSIDE};

/// Half the keys take one of the first five templates (AWS default and console policies).
pub(crate) fn pick_policy(templates: &[String], h: u64) -> &str {
    let r = (h >> 8) % 100;
    let i = if r < 50 {
        (h >> 16) as usize % 5
    } else {
        5 + (h >> 16) as usize % (templates.len() - 5)
    };
    &templates[i]
}

pub(crate) fn managed_key(
    account: &str,
    region: &str,
    key_id: String,
    arn: String,
    n: usize,
) -> KeyRecord {
    KeyRecord {
        arn: arn.clone(),
        key_id: key_id.clone(),
        metadata: Some(KeyMetadata {
            key_id,
            arn,
            aws_account_id: account.into(),
            description: format!(
                "Default key that protects my EBS volumes when no other key is defined ({region})"
            ),
            creation_date: Some(stamp(n as i64)),
            enabled: true,
            key_state: "Enabled".into(),
            key_usage: "ENCRYPT_DECRYPT".into(),
            key_spec: "SYMMETRIC_DEFAULT".into(),
            key_manager: "AWS".into(),
            origin: "AWS_KMS".into(),
            multi_region: Some(false),
            ..Default::default()
        }),
        aliases: vec!["alias/aws/ebs".into()],
        ..Default::default()
    }
}

pub(crate) fn customer_key(
    account: &str,
    region: &str,
    key_id: String,
    arn: String,
    n: usize,
    h: u64,
    policy: String,
) -> KeyRecord {
    let (spec, usage, origin) = match n % 50 {
        0 | 25 => ("RSA_2048", "SIGN_VERIFY", "AWS_KMS"),
        7 => ("HMAC_256", "GENERATE_VERIFY_MAC", "AWS_KMS"),
        13 => ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", "EXTERNAL"),
        _ => ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", "AWS_KMS"),
    };
    let state = match n % 100 {
        1 => "Disabled",
        2 => "PendingDeletion",
        _ => "Enabled",
    };
    let mut meta = KeyMetadata {
        key_id: key_id.clone(),
        arn: arn.clone(),
        aws_account_id: account.into(),
        description: format!("app key {n}"),
        creation_date: Some(stamp(n as i64)),
        enabled: state == "Enabled",
        key_state: state.into(),
        key_usage: usage.into(),
        key_spec: spec.into(),
        key_manager: "CUSTOMER".into(),
        origin: origin.into(),
        multi_region: Some(n % 30 == 11),
        ..Default::default()
    };
    if state == "PendingDeletion" {
        meta.deletion_date = Some(stamp(40_000_000));
        meta.pending_deletion_window_in_days = Some(30);
    }
    if origin == "EXTERNAL" {
        meta.expiration_model = Some("KEY_MATERIAL_EXPIRES".into());
        meta.valid_to = Some(stamp(if n % 100 == 13 { 100 } else { 80_000_000 }));
    }
    if n % 30 == 11 {
        meta.multi_region_configuration = Some(MultiRegionConfiguration {
            key_type: "PRIMARY".into(),
            primary_region: Some(region.into()),
            replica_regions: vec![],
        });
    }
    let rotation =
        (meta.rotation_applies() && state != "PendingDeletion").then(|| RotationStatus {
            enabled: !n.is_multiple_of(3),
            period_days: Some(if n.is_multiple_of(7) { 730 } else { 365 }),
            next_rotation_date: (!n.is_multiple_of(3)).then(|| stamp(50_000_000)),
        });
    let grant_count = if n % 997 == 40 {
        130
    } else {
        (h >> 24) as usize % 4
    };
    let grants = (0..grant_count)
        .map(|g| Grant {
            grant_id: format!("{:016x}{g:04}", h),
            name: (g % 2 == 0).then(|| format!("grant-{g}")),
            grantee_principal: Some(if g == 1 && n % 40 == 9 {
                format!("arn:aws:iam::{OUTSIDE}:role/Partner")
            } else {
                format!("arn:aws:iam::{account}:role/Worker{g}")
            }),
            retiring_principal: None,
            issuing_account: Some(format!("arn:aws:iam::{account}:root")),
            operations: if g == 2 {
                vec![
                    "CreateGrant".into(),
                    "Decrypt".into(),
                    "ReEncryptFrom".into(),
                ]
            } else {
                vec!["Decrypt".into(), "Encrypt".into(), "GenerateDataKey".into()]
            },
            constraints: (g == 0 && n.is_multiple_of(2)).then(|| GrantConstraints {
                encryption_context_subset: BTreeMap::from([("app".into(), format!("a{n}"))]),
                encryption_context_equals: BTreeMap::new(),
            }),
            creation_date: Some(stamp(n as i64 + g as i64)),
        })
        .collect();
    let aliases = match n % 10 {
        0 => vec![],
        1 => vec![format!("alias/app-{n}"), format!("alias/app-{n}-b")],
        _ => vec![format!("alias/app-{n}")],
    };
    let tags = match n % 4 {
        0 => vec![],
        _ if n % 1009 == 42 => (0..70)
            .map(|t| Tag {
                key: format!("k{t:03}"),
                value: format!("v{t}"),
            })
            .collect(),
        _ => vec![
            Tag {
                key: "owner".into(),
                value: format!("team-{}", n % 7),
            },
            Tag {
                key: "data-classification".into(),
                value: if n.is_multiple_of(5) {
                    String::new()
                } else {
                    "internal".into()
                },
            },
        ],
    };
    KeyRecord {
        arn,
        key_id,
        metadata: Some(meta),
        policy: Some(policy.into()),
        rotation,
        grants: Some(grants),
        aliases,
        tags: Some(tags),
        last_use: None,
        errors: vec![],
        recent_events: None,
    }
}
