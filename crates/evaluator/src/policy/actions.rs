//! The KMS action catalogue and sets of actions as bit sets.
//!
//! Statements are expanded against the fixed list of KMS actions once, so that every later
//! question ("does this principal hold Decrypt?") is a bit test. Patterns of other services
//! (`s3:*`) match nothing; `*` and `kms:*` match everything. Action names are case-insensitive
//! in IAM, so matching is done on lowercase text.

use super::wildcard::wildcard_match;

/// Every KMS action a key policy can grant: the universe a key policy's `Action` and
/// `NotAction` are read against (the "Policy type: key policy" rows of the KMS permissions
/// reference). `kms:*` in a key policy means exactly these.
pub const KMS_ACTIONS: [&str; 44] = [
    "CancelKeyDeletion",
    "CreateAlias",
    "CreateGrant",
    "Decrypt",
    "DeleteAlias",
    "DeleteImportedKeyMaterial",
    "DeriveSharedSecret",
    "DescribeKey",
    "DisableKey",
    "DisableKeyRotation",
    "EnableKey",
    "EnableKeyRotation",
    "Encrypt",
    "GenerateDataKey",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "GenerateDataKeyWithoutPlaintext",
    "GenerateMac",
    "GetKeyPolicy",
    "GetKeyRotationStatus",
    "GetParametersForImport",
    "GetPublicKey",
    "ImportKeyMaterial",
    "ListGrants",
    "ListKeyPolicies",
    "ListKeyRotations",
    "ListResourceTags",
    "PutKeyPolicy",
    "ReEncryptFrom",
    "ReEncryptTo",
    "ReplicateKey",
    "RetireGrant",
    "RevokeGrant",
    "RotateKeyOnDemand",
    "ScheduleKeyDeletion",
    "Sign",
    "SynchronizeMultiRegionKey",
    "TagResource",
    "UntagResource",
    "UpdateAlias",
    "UpdateKeyDescription",
    "UpdatePrimaryRegion",
    "Verify",
    "VerifyMac",
];

/// KMS actions valid only in IAM policies (not on one key): a key policy that names them grants
/// nothing by them, and they are neither administration nor use of the key.
pub const IAM_ONLY_ACTIONS: [&str; 11] = [
    "ConnectCustomKeyStore",
    "CreateCustomKeyStore",
    "CreateKey",
    "DeleteCustomKeyStore",
    "DescribeCustomKeyStores",
    "DisconnectCustomKeyStore",
    "GenerateRandom",
    "ListAliases",
    "ListKeys",
    "ListRetirableGrants",
    "UpdateCustomKeyStore",
];

/// A set of KMS actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ActionSet(u64);

impl ActionSet {
    /// No action.
    pub const EMPTY: ActionSet = ActionSet(0);
    /// Every KMS action of the catalogue.
    pub const ALL: ActionSet = ActionSet((1u64 << KMS_ACTIONS.len()) - 1);

    /// Cryptographic use of the key.
    pub fn crypto() -> ActionSet {
        static SET: std::sync::LazyLock<ActionSet> = std::sync::LazyLock::new(|| {
            ActionSet::of(&[
                "Decrypt",
                "DeriveSharedSecret",
                "Encrypt",
                "GenerateDataKey",
                "GenerateDataKeyPair",
                "GenerateDataKeyPairWithoutPlaintext",
                "GenerateDataKeyWithoutPlaintext",
                "GenerateMac",
                "ReEncryptFrom",
                "ReEncryptTo",
                "Sign",
                "Verify",
                "VerifyMac",
            ])
        });
        *SET
    }

    /// Key administration: changes to the key's policy, state, material, aliases, description
    /// or replication (the "key administrators" of the default console policy). Tagging is
    /// deliberately not administration here.
    pub fn administration() -> ActionSet {
        static SET: std::sync::LazyLock<ActionSet> = std::sync::LazyLock::new(|| {
            ActionSet::of(&[
                "CancelKeyDeletion",
                "CreateAlias",
                "DeleteAlias",
                "DeleteImportedKeyMaterial",
                "DisableKey",
                "DisableKeyRotation",
                "EnableKey",
                "EnableKeyRotation",
                "ImportKeyMaterial",
                "PutKeyPolicy",
                "ReplicateKey",
                "RotateKeyOnDemand",
                "ScheduleKeyDeletion",
                "SynchronizeMultiRegionKey",
                "UpdateAlias",
                "UpdateKeyDescription",
                "UpdatePrimaryRegion",
            ])
        });
        *SET
    }

    /// Creating, listing, retiring and revoking grants.
    pub fn grant_management() -> ActionSet {
        static SET: std::sync::LazyLock<ActionSet> = std::sync::LazyLock::new(|| {
            ActionSet::of(&["CreateGrant", "ListGrants", "RetireGrant", "RevokeGrant"])
        });
        *SET
    }

    /// Changing the key policy (`PutKeyPolicy`).
    pub fn policy_change() -> ActionSet {
        static SET: std::sync::LazyLock<ActionSet> =
            std::sync::LazyLock::new(|| ActionSet::of(&["PutKeyPolicy"]));
        *SET
    }

    /// The operations a principal of another AWS account can perform on the key when the key
    /// policy (and its own account's IAM) allow it: the cryptographic operations, the grant
    /// operations, DescribeKey, GetKeyRotationStatus and GetPublicKey ("Allowing users in other
    /// accounts to use a KMS key", KMS Developer Guide; each operation's "Cross-account use" in
    /// the KMS API Reference). Any other operation granted to another account has no effect.
    pub fn cross_account() -> ActionSet {
        static SET: std::sync::LazyLock<ActionSet> = std::sync::LazyLock::new(|| {
            ActionSet::crypto()
                .union(ActionSet::grant_management())
                .union(ActionSet::of(&[
                    "DescribeKey",
                    "GetKeyRotationStatus",
                    "GetPublicKey",
                ]))
        });
        *SET
    }

    /// Read-only description and listing actions.
    pub fn describe_list() -> ActionSet {
        static SET: std::sync::LazyLock<ActionSet> = std::sync::LazyLock::new(|| {
            ActionSet::of(&[
                "DescribeKey",
                "GetKeyPolicy",
                "GetKeyRotationStatus",
                "GetParametersForImport",
                "GetPublicKey",
                "ListKeyPolicies",
                "ListKeyRotations",
                "ListResourceTags",
            ])
        });
        *SET
    }

    /// The set of the named actions (names as in [`KMS_ACTIONS`], without `kms:`).
    pub fn of(names: &[&str]) -> ActionSet {
        let mut bits = 0;
        for name in names {
            let i = KMS_ACTIONS
                .iter()
                .position(|a| a.eq_ignore_ascii_case(name));
            debug_assert!(i.is_some(), "`{name}` is not a key policy action");
            if let Some(i) = i {
                bits |= 1 << i;
            }
        }
        ActionSet(bits)
    }

    /// The actions an IAM `Action` pattern matches (`kms:Create*`, `*`, `KMS:decrypt`).
    pub fn matching(pattern: &str) -> ActionSet {
        let pattern = pattern.trim().to_ascii_lowercase();
        if pattern == "*" || pattern == "kms:*" {
            return ActionSet::ALL;
        }
        let Some((service, action)) = pattern.split_once(':') else {
            return ActionSet::EMPTY;
        };
        if !wildcard_match(service, "kms") {
            return ActionSet::EMPTY;
        }
        let mut bits = 0;
        for (i, name) in KMS_ACTIONS.iter().enumerate() {
            if wildcard_match(action, &name.to_ascii_lowercase()) {
                bits |= 1 << i;
            }
        }
        ActionSet(bits)
    }

    /// Actions in either set.
    pub fn union(self, other: ActionSet) -> ActionSet {
        ActionSet(self.0 | other.0)
    }
    /// Actions in both sets.
    pub fn intersect(self, other: ActionSet) -> ActionSet {
        ActionSet(self.0 & other.0)
    }
    /// Actions in `self` and not in `other`.
    pub fn minus(self, other: ActionSet) -> ActionSet {
        ActionSet(self.0 & !other.0)
    }
    /// Every action not in the set.
    pub fn complement(self) -> ActionSet {
        ActionSet(!self.0 & Self::ALL.0)
    }
    /// No action at all.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    /// Every action of the catalogue.
    pub fn is_all(self) -> bool {
        self == Self::ALL
    }
    /// Whether every action of `other` is in the set.
    pub fn contains_all(self, other: ActionSet) -> bool {
        self.0 & other.0 == other.0
    }
    /// Whether the sets share an action.
    pub fn overlaps(self, other: ActionSet) -> bool {
        self.0 & other.0 != 0
    }
    /// How many actions.
    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// `kms:`-prefixed names, in catalogue order.
    pub fn names(self) -> Vec<String> {
        KMS_ACTIONS
            .iter()
            .enumerate()
            .filter(|(i, _)| self.0 & (1 << i) != 0)
            .map(|(_, n)| format!("kms:{n}"))
            .collect()
    }

    /// For evidence: `kms:*` for every action a key policy can grant, else the names.
    pub fn evidence_names(self) -> Vec<String> {
        match self.is_all() {
            true => vec!["kms:*".to_string()],
            false => self.names(),
        }
    }

    /// A short human rendering: `kms:*` for everything, else the names (at most 6).
    pub fn describe(self) -> String {
        if self.is_all() {
            return "kms:* (every KMS action)".to_string();
        }
        let names = self.names();
        if names.len() > 6 {
            format!("{} and {} more", names[..6].join(", "), names.len() - 6)
        } else {
            names.join(", ")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_expand_case_insensitively() {
        assert_eq!(ActionSet::matching("*"), ActionSet::ALL);
        assert_eq!(ActionSet::matching("KMS:*"), ActionSet::ALL);
        assert_eq!(
            ActionSet::matching("kms:decrypt"),
            ActionSet::of(&["Decrypt"])
        );
        assert_eq!(
            ActionSet::matching("kms:ReEncrypt*"),
            ActionSet::of(&["ReEncryptFrom", "ReEncryptTo"])
        );
        assert_eq!(
            ActionSet::matching("kms:*crypt"),
            ActionSet::of(&["Decrypt", "Encrypt"])
        );
        assert_eq!(ActionSet::matching("s3:*"), ActionSet::EMPTY);
        assert_eq!(ActionSet::matching("garbage"), ActionSet::EMPTY);
        assert!(ActionSet::matching("kms:Create*")
            .contains_all(ActionSet::of(&["CreateGrant", "CreateAlias"])));
    }

    #[test]
    fn iam_only_actions_are_outside_the_key_policy_universe() {
        for name in IAM_ONLY_ACTIONS {
            assert!(!KMS_ACTIONS.contains(&name), "{name}");
            assert_eq!(
                ActionSet::matching(&format!("kms:{name}")),
                ActionSet::EMPTY
            );
        }
        assert_eq!(
            ActionSet::matching("kms:List*"),
            ActionSet::of(&[
                "ListGrants",
                "ListKeyPolicies",
                "ListKeyRotations",
                "ListResourceTags"
            ])
        );
    }

    #[test]
    fn categories_are_disjoint_where_they_must_be() {
        assert!(!ActionSet::crypto().overlaps(ActionSet::administration()));
        assert!(ActionSet::administration().contains_all(ActionSet::policy_change()));
        assert_eq!(ActionSet::ALL.len(), KMS_ACTIONS.len());
        assert_eq!(
            ActionSet::matching("kms:Decrypt").complement().len(),
            KMS_ACTIONS.len() - 1
        );
    }
}
