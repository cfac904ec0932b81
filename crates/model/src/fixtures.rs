//! Builders of model values for tests of the crates that read them (feature `fixtures`).

use crate::{
    AccountAccess, AccountRecord, IamRecord, KeyMetadata, KeyRecord, RegionAccess, RegionRecord,
};

/// A described, enabled, symmetric customer-managed key with KMS-generated material, named by
/// its ARN (`arn:aws:kms:<region>:<account>:key/<id>`); nothing else read yet.
pub fn customer_key(arn: &str) -> KeyRecord {
    let key_id = arn.rsplit('/').next().unwrap_or(arn).to_string();
    KeyRecord {
        arn: arn.to_string(),
        key_id: key_id.clone(),
        metadata: Some(KeyMetadata {
            key_id,
            arn: arn.to_string(),
            aws_account_id: crate::arn_account(arn).unwrap_or_default().to_string(),
            enabled: true,
            key_state: "Enabled".into(),
            key_usage: "ENCRYPT_DECRYPT".into(),
            key_spec: "SYMMETRIC_DEFAULT".into(),
            key_manager: "CUSTOMER".into(),
            origin: "AWS_KMS".into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// An account of the organization (`member`: with an organization status), scanned in
/// us-east-1 where it holds `keys`, with `iam` as read.
pub fn scanned_account(
    id: &str,
    member: bool,
    keys: Vec<KeyRecord>,
    iam: Option<IamRecord>,
) -> AccountRecord {
    AccountRecord {
        id: id.into(),
        name: None,
        email: None,
        org_status: member.then(|| "ACTIVE".into()),
        access: AccountAccess::Scanned { via: "test".into() },
        regions_from: None,
        regions: vec![RegionRecord {
            region: "us-east-1".into(),
            access: RegionAccess::Scanned,
            aliases_error: None,
            keys,
            access_analyzer: None,
        }],
        iam,
        monitoring: None,
    }
}
