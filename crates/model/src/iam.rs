//! What decides access to a key besides its own policy and grants: each account's IAM
//! identities (users, groups, roles with their trust policies and permissions boundaries) and
//! the organization's service and resource control policies, kept to the statements that can
//! match a `kms:` action or `sts:AssumeRole*`.

use std::collections::BTreeMap;
use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::Issue;

/// One account's IAM, from `iam:GetAccountAuthorizationDetails`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct IamRecord {
    /// Users and roles, sorted by ARN.
    pub principals: Vec<IamPrincipal>,
    /// Groups, sorted by name.
    #[serde(default)]
    pub groups: Vec<IamGroup>,
    /// The customer managed policies of the account, sorted by ARN (AWS managed policies are
    /// kept once per snapshot, in [`crate::Snapshot::aws_managed_policies`]).
    #[serde(default)]
    pub managed_policies: Vec<ManagedPolicy>,
    /// What could not be read. Any issue makes every answer that depends on this account's
    /// IAM NOT_ASSESSED, never "nobody".
    #[serde(default)]
    pub errors: Vec<Issue>,
}

/// Whether an IAM principal is a user or a role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum IamPrincipalKind {
    /// An IAM user.
    User,
    /// An IAM role (its sessions act with its permissions).
    Role,
}

/// One IAM user or role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct IamPrincipal {
    /// Its ARN.
    pub arn: String,
    /// User or role.
    pub kind: IamPrincipalKind,
    /// Its inline policies.
    #[serde(default)]
    pub inline_policies: Vec<InlinePolicy>,
    /// The ARNs of the managed policies attached to it directly.
    #[serde(default)]
    pub attached_policies: Vec<String>,
    /// For a user, the names of its groups.
    #[serde(default)]
    pub groups: Vec<String>,
    /// The ARN of its permissions boundary.
    #[serde(default)]
    pub boundary: Option<String>,
    /// For a role, its trust policy (the document as IAM returns it, URL-decoded).
    #[serde(default)]
    pub trust_policy: Option<Arc<str>>,
}

impl IamPrincipal {
    /// A service-linked role (path `/aws-service-role/`): SCPs do not apply to it.
    pub fn is_service_linked(&self) -> bool {
        self.kind == IamPrincipalKind::Role && self.arn.contains(":role/aws-service-role/")
    }
}

/// One IAM group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct IamGroup {
    /// Its name.
    pub name: String,
    /// Its ARN.
    pub arn: String,
    /// Its inline policies.
    #[serde(default)]
    pub inline_policies: Vec<InlinePolicy>,
    /// The ARNs of the managed policies attached to it.
    #[serde(default)]
    pub attached_policies: Vec<String>,
}

/// An inline policy: its name and document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct InlinePolicy {
    /// The policy's name.
    pub name: String,
    /// The document (only statements that can decide access to a key are kept).
    pub document: Arc<str>,
}

/// A managed policy's default version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ManagedPolicy {
    /// Its ARN (`arn:aws:iam::aws:policy/...` for AWS managed policies).
    pub arn: String,
    /// Its name.
    pub name: String,
    /// The default version's document (only statements that can decide access to a key are
    /// kept).
    pub document: Arc<str>,
}

/// The organization's structure and its authorization policies, read from the management
/// account or a delegated administrator.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OrgPolicies {
    /// The root's id (`r-...`).
    pub root_id: String,
    /// The policy types enabled on the root: a type that is not enabled applies to no one.
    #[serde(default)]
    pub enabled: Vec<OrgPolicyKind>,
    /// Each OU's and account's parent (an OU id or the root id), by child id.
    #[serde(deserialize_with = "crate::strict::unique_map")]
    pub parents: BTreeMap<String, String>,
    /// Service and resource control policies, sorted by id.
    pub policies: Vec<OrgPolicy>,
    /// What could not be read. Any issue makes every answer that depends on the organization's
    /// policies NOT_ASSESSED.
    #[serde(default)]
    pub errors: Vec<Issue>,
}

impl OrgPolicies {
    /// The path from the root down to `id` (root first, `id` last); `None` when `id` is not in
    /// the tree (or the tree has a cycle).
    pub fn path_to<'a>(&'a self, id: &'a str) -> Option<Vec<&'a str>> {
        let mut path = vec![id];
        let mut at = id;
        while at != self.root_id {
            at = self.parents.get(at)?;
            if path.len() > self.parents.len() + 1 {
                return None;
            }
            path.push(at);
        }
        path.reverse();
        Some(path)
    }
}

/// Which kind of organization policy.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrgPolicyKind {
    /// A service control policy: caps what principals of the accounts below can do.
    ServiceControlPolicy,
    /// A resource control policy: caps what can be done to resources of the accounts below.
    ResourceControlPolicy,
}

/// One SCP or RCP and where it is attached.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OrgPolicy {
    /// `p-...`.
    pub id: String,
    /// Its name.
    pub name: String,
    /// SCP or RCP.
    pub kind: OrgPolicyKind,
    /// The document.
    pub document: Arc<str>,
    /// The root, OU and account ids it is attached to, sorted.
    pub targets: Vec<String>,
}
