//! Effective access: who can really use or administer each key once its key policy, grants,
//! IAM identity policies, permissions boundaries, SCPs, RCPs and role trust are combined.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What a principal can do with a key, in six words.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Capability {
    /// `Decrypt`, `ReEncryptFrom`.
    Decrypt,
    /// Every other cryptographic use (`Encrypt`, `GenerateDataKey*`, `Sign`, `GenerateMac`…).
    Encrypt,
    /// `CreateGrant`: can give itself or anyone else the key's use.
    Grant,
    /// `PutKeyPolicy`: total control.
    Policy,
    /// `DisableKey`.
    Disable,
    /// `ScheduleKeyDeletion`.
    Delete,
}

impl Capability {
    /// Every capability, in this order.
    pub const ALL: [Capability; 6] = [
        Capability::Decrypt,
        Capability::Encrypt,
        Capability::Grant,
        Capability::Policy,
        Capability::Disable,
        Capability::Delete,
    ];

    /// The KMS actions that give it.
    pub fn actions(self) -> &'static [&'static str] {
        match self {
            Capability::Decrypt => &["kms:Decrypt", "kms:ReEncryptFrom"],
            Capability::Encrypt => &[
                "kms:Encrypt",
                "kms:GenerateDataKey",
                "kms:GenerateDataKeyWithoutPlaintext",
                "kms:GenerateDataKeyPair",
                "kms:GenerateDataKeyPairWithoutPlaintext",
                "kms:ReEncryptTo",
                "kms:Sign",
                "kms:Verify",
                "kms:GenerateMac",
                "kms:VerifyMac",
                "kms:DeriveSharedSecret",
            ],
            Capability::Grant => &["kms:CreateGrant"],
            Capability::Policy => &["kms:PutKeyPolicy"],
            Capability::Disable => &["kms:DisableKey"],
            Capability::Delete => &["kms:ScheduleKeyDeletion"],
        }
    }

    /// Its word, as in access.csv.
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::Decrypt => "decrypt",
            Capability::Encrypt => "encrypt",
            Capability::Grant => "grant",
            Capability::Policy => "policy",
            Capability::Disable => "disable",
            Capability::Delete => "delete",
        }
    }

    /// Whether it administers the key rather than uses it.
    pub fn is_administration(self) -> bool {
        matches!(
            self,
            Capability::Grant | Capability::Policy | Capability::Disable | Capability::Delete
        )
    }
}

/// Whether a principal has a capability.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum AccessVerdict {
    /// Whatever the rest of the request is.
    Allowed,
    /// Only under the conditions listed (source VPC, `kms:ViaService`, encryption context…).
    Conditional,
    /// What decides it could not be read or understood: the reason is in `conditions`.
    NotAssessed,
}

impl AccessVerdict {
    /// Its word, as in access.csv.
    pub fn as_str(self) -> &'static str {
        match self {
            AccessVerdict::Allowed => "allowed",
            AccessVerdict::Conditional => "conditional",
            AccessVerdict::NotAssessed => "not_assessed",
        }
    }
}

/// One principal's capability on one key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AccessRow {
    /// The key.
    pub key_arn: String,
    /// An IAM ARN, an account root ARN, a service principal, or `*` (a caller of any account
    /// outside those scanned).
    pub principal: String,
    /// The principal's account, when it has one.
    pub principal_account: Option<String>,
    /// What it can do.
    pub capability: Capability,
    /// Whether it can.
    pub verdict: AccessVerdict,
    /// The path: the key policy statement, IAM policy and statement, grant id, assumed roles.
    pub via: String,
    /// The conditions left open (for `conditional`), or why it was not assessed.
    pub conditions: Vec<String>,
}
