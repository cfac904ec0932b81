//! One KMS key as the scanner read it: metadata, policy text, rotation, grants, tags.

use std::collections::BTreeMap;

use jiff::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::Issue;

/// One KMS key and everything read about it. A field is `None` when its call was not made
/// (not applicable to this key) or failed; failures are in `errors`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct KeyRecord {
    /// The key's ARN.
    pub arn: String,
    /// The key id (a UUID, or `mrk-...` for multi-Region keys).
    pub key_id: String,
    /// DescribeKey's answer.
    pub metadata: Option<KeyMetadata>,
    /// The raw `default` key policy text, exactly as GetKeyPolicy returned it.
    pub policy: Option<std::sync::Arc<str>>,
    /// GetKeyRotationStatus's answer, where rotation applies.
    pub rotation: Option<RotationStatus>,
    /// ListGrants's answer, every page.
    pub grants: Option<Vec<Grant>>,
    /// Alias names (`alias/...`) that target this key, sorted.
    pub aliases: Vec<String>,
    /// Sorted by tag key. `None` when not read.
    pub tags: Option<Vec<Tag>>,
    /// GetKeyLastUsage's answer. `None` when not asked (AWS managed keys, or the scan did not
    /// collect last use).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_use: Option<crate::LastUse>,
    /// The latest CloudTrail events naming the key (LookupEvents), read for keys pending
    /// deletion or disabled only. `None` when not read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recent_events: Option<crate::KeyEvents>,
    /// One entry per failed call, sorted by operation.
    pub errors: Vec<Issue>,
}

impl KeyRecord {
    pub(crate) fn normalize(&mut self) {
        // Also gives back what growing the vectors left over (a parsed snapshot's are grown).
        self.aliases.sort();
        self.aliases.shrink_to_fit();
        if let Some(tags) = &mut self.tags {
            tags.sort();
            tags.shrink_to_fit();
        }
        if let Some(grants) = &mut self.grants {
            grants.sort_by(|a, b| a.grant_id.cmp(&b.grant_id));
            grants.shrink_to_fit();
            for g in grants {
                g.operations.sort();
                g.operations.shrink_to_fit();
            }
        }
        self.errors.sort();
    }

    /// The failure of `operation` (e.g. `KMS.GetKeyPolicy`), if it failed.
    pub fn error_for(&self, operation: &str) -> Option<&Issue> {
        self.errors.iter().find(|e| e.operation == operation)
    }

    /// Whether DescribeKey said the key is customer managed.
    pub fn is_customer_managed(&self) -> bool {
        self.metadata
            .as_ref()
            .is_some_and(KeyMetadata::is_customer_managed)
    }

    /// `key=value` pairs joined by `sep`, or `None` when the tags were not read.
    pub fn tags_text(&self, sep: &str) -> Option<String> {
        self.tags.as_ref().map(|t| {
            t.iter()
                .map(|t| format!("{}={}", t.key, t.value))
                .collect::<Vec<_>>()
                .join(sep)
        })
    }

    /// The first alias, or the key id: a short name for people.
    pub fn display_name(&self) -> &str {
        self.aliases
            .first()
            .map(String::as_str)
            .unwrap_or(&self.key_id)
    }
}

/// The subset of DescribeKey's `KeyMetadata` the rules use, with AWS's own field meanings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct KeyMetadata {
    /// The key id.
    pub key_id: String,
    /// The key's ARN.
    pub arn: String,
    /// The account that owns the key.
    pub aws_account_id: String,
    /// The key's description (free text from the key's owner).
    pub description: String,
    /// When the key was created.
    pub creation_date: Option<Timestamp>,
    /// Whether the key is enabled.
    pub enabled: bool,
    /// `Enabled`, `Disabled`, `PendingDeletion`, `PendingReplicaDeletion`, `PendingImport`, ...
    pub key_state: String,
    /// `ENCRYPT_DECRYPT`, `SIGN_VERIFY`, `GENERATE_VERIFY_MAC`, `KEY_AGREEMENT`.
    pub key_usage: String,
    /// `SYMMETRIC_DEFAULT`, `RSA_2048`, `HMAC_256`, ...
    pub key_spec: String,
    /// `CUSTOMER` or `AWS`.
    pub key_manager: String,
    /// `AWS_KMS`, `EXTERNAL`, `AWS_CLOUDHSM`, `EXTERNAL_KEY_STORE`.
    pub origin: String,
    /// The custom key store holding the key material, if any.
    pub custom_key_store_id: Option<String>,
    /// Set while the key is pending deletion.
    pub deletion_date: Option<Timestamp>,
    /// The waiting period of a pending deletion.
    pub pending_deletion_window_in_days: Option<i32>,
    /// When imported key material expires.
    pub valid_to: Option<Timestamp>,
    /// `KEY_MATERIAL_EXPIRES` or `KEY_MATERIAL_DOES_NOT_EXPIRE` (imported material).
    pub expiration_model: Option<String>,
    /// Whether the key is a multi-Region key.
    pub multi_region: Option<bool>,
    /// Primary and replicas of a multi-Region key.
    pub multi_region_configuration: Option<MultiRegionConfiguration>,
}

impl KeyMetadata {
    /// `KeyManager` is `CUSTOMER` (not an AWS managed key).
    pub fn is_customer_managed(&self) -> bool {
        self.key_manager == "CUSTOMER"
    }

    /// Whether automatic rotation can exist for this key at all: symmetric encryption keys with
    /// key material generated by KMS in the default key store.
    pub fn rotation_applies(&self) -> bool {
        self.key_spec == "SYMMETRIC_DEFAULT"
            && self.key_usage == "ENCRYPT_DECRYPT"
            && self.origin == "AWS_KMS"
            && self.custom_key_store_id.is_none()
    }
}

/// Where a multi-Region key's primary and replicas live.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MultiRegionConfiguration {
    /// `PRIMARY` or `REPLICA`.
    pub key_type: String,
    /// Region of the primary key.
    pub primary_region: Option<String>,
    /// Sorted.
    pub replica_regions: Vec<String>,
}

/// GetKeyRotationStatus's answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RotationStatus {
    /// Whether automatic rotation is on.
    pub enabled: bool,
    /// The rotation period, when KMS reported it.
    pub period_days: Option<i32>,
    /// When the key rotates next.
    pub next_rotation_date: Option<Timestamp>,
}

/// A resource tag of a key.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
pub struct Tag {
    /// Tag key.
    pub key: String,
    /// Tag value.
    pub value: String,
}

/// One grant on a key, as ListGrants returned it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Grant {
    /// The grant id.
    pub grant_id: String,
    /// The grant's friendly name, if set.
    pub name: Option<String>,
    /// Who may use the grant's operations.
    pub grantee_principal: Option<String>,
    /// Who may retire the grant.
    pub retiring_principal: Option<String>,
    /// The account that created the grant.
    pub issuing_account: Option<String>,
    /// Sorted, e.g. `Decrypt`, `Encrypt`, `CreateGrant`.
    pub operations: Vec<String>,
    /// Encryption-context constraints, if any.
    pub constraints: Option<GrantConstraints>,
    /// When the grant was created.
    pub creation_date: Option<Timestamp>,
}

/// A grant's encryption-context constraints.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct GrantConstraints {
    /// The request's context must include these pairs.
    #[serde(deserialize_with = "crate::strict::unique_map")]
    pub encryption_context_subset: BTreeMap<String, String>,
    /// The request's context must be exactly these pairs.
    #[serde(deserialize_with = "crate::strict::unique_map")]
    pub encryption_context_equals: BTreeMap<String, String>,
}

impl GrantConstraints {
    /// No constraint at all.
    pub fn is_empty(&self) -> bool {
        self.encryption_context_subset.is_empty() && self.encryption_context_equals.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_applies_only_to_symmetric_kms_generated_keys() {
        let mut m = KeyMetadata {
            key_spec: "SYMMETRIC_DEFAULT".into(),
            key_usage: "ENCRYPT_DECRYPT".into(),
            origin: "AWS_KMS".into(),
            ..Default::default()
        };
        assert!(m.rotation_applies());
        m.origin = "EXTERNAL".into();
        assert!(!m.rotation_applies());
        m.origin = "AWS_KMS".into();
        m.key_spec = "RSA_2048".into();
        assert!(!m.rotation_applies());
        m.key_spec = "SYMMETRIC_DEFAULT".into();
        m.custom_key_store_id = Some("cks-1".into());
        assert!(!m.rotation_applies());
    }
}
