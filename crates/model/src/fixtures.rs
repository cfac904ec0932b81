//! Builders of model values for tests of the crates that read them (feature `fixtures`).

use crate::{KeyMetadata, KeyRecord};

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
