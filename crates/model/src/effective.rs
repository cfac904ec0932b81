//! Effective access: who can really use or administer each key once its key policy, grants,
//! IAM identity policies, permissions boundaries, SCPs, RCPs and role trust are combined.

use std::sync::Arc;

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

/// One principal's capability on a key, the key aside: an [`AccessTable`] shares these
/// between keys alike, and their text between entries (the same principals and paths recur
/// across an account's keys: see [`Interner`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessEntry {
    /// As [`AccessRow::principal`].
    pub principal: Arc<str>,
    /// As [`AccessRow::principal_account`].
    pub principal_account: Option<Arc<str>>,
    /// What it can do.
    pub capability: Capability,
    /// Whether it can.
    pub verdict: AccessVerdict,
    /// As [`AccessRow::via`].
    pub via: Arc<str>,
    /// As [`AccessRow::conditions`].
    pub conditions: Arc<[String]>,
}

/// One allocation per distinct text: entries built through it share their strings.
#[derive(Debug, Default)]
pub struct Interner {
    seen: std::collections::HashSet<Arc<str>>,
    lists: std::collections::HashSet<Arc<[String]>>,
}

impl Interner {
    /// The shared copy of `text`.
    pub fn text(&mut self, text: &str) -> Arc<str> {
        if let Some(t) = self.seen.get(text) {
            return t.clone();
        }
        let t: Arc<str> = Arc::from(text);
        self.seen.insert(t.clone());
        t
    }

    /// The shared copy of `list`.
    pub fn list(&mut self, list: Vec<String>) -> Arc<[String]> {
        if let Some(l) = self.lists.get(list.as_slice()) {
            return l.clone();
        }
        let l: Arc<[String]> = Arc::from(list);
        self.lists.insert(l.clone());
        l
    }
}

impl AccessEntry {
    /// The entry borrowed, as a table gives it back.
    pub fn view(&self) -> AccessEntryView<'_> {
        AccessEntryView {
            principal: &self.principal,
            principal_account: self.principal_account.as_deref(),
            capability: self.capability,
            verdict: self.verdict,
            via: &self.via,
            conditions: &self.conditions,
        }
    }
}

impl From<AccessRow> for AccessEntry {
    fn from(r: AccessRow) -> AccessEntry {
        AccessEntry {
            principal: r.principal.into(),
            principal_account: r.principal_account.map(Arc::from),
            capability: r.capability,
            verdict: r.verdict,
            via: r.via.into(),
            conditions: r.conditions.into(),
        }
    }
}

/// An entry of an [`AccessTable`], borrowed from it: the fields of [`AccessEntry`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AccessEntryView<'t> {
    /// As [`AccessRow::principal`].
    pub principal: &'t str,
    /// As [`AccessRow::principal_account`].
    pub principal_account: Option<&'t str>,
    /// What it can do.
    pub capability: Capability,
    /// Whether it can.
    pub verdict: AccessVerdict,
    /// As [`AccessRow::via`].
    pub via: &'t str,
    /// As [`AccessRow::conditions`].
    pub conditions: &'t [String],
}

impl<'t> AccessEntryView<'t> {
    pub(crate) fn order(&self) -> (&'t str, Capability) {
        (self.principal, self.capability)
    }

    /// The row it is on `key_arn`.
    pub fn row(&self, key_arn: &str) -> AccessRow {
        AccessRow {
            key_arn: key_arn.to_string(),
            principal: self.principal.to_string(),
            principal_account: self.principal_account.map(str::to_string),
            capability: self.capability,
            verdict: self.verdict,
            via: self.via.to_string(),
            conditions: self.conditions.to_vec(),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An allowed entry with no account and no conditions.
    pub(crate) fn entry(principal: &str, capability: Capability, via: &str) -> AccessEntry {
        AccessEntry {
            principal: principal.into(),
            principal_account: None,
            capability,
            verdict: AccessVerdict::Allowed,
            via: via.into(),
            conditions: Arc::from([]),
        }
    }
}
