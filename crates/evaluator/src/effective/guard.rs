//! Whether RCPs keep callers outside the organization away from a member account's keys: the
//! RCPs along the account's path decided for an outside caller (not an AWS service) calling
//! `kms:Decrypt` on one of its keys.

use std::collections::BTreeMap;

use kmsaudit_model::{AccountAccess, OrgPolicyKind, RegionAccess, Snapshot};

use super::callers::CallerRef;
use super::decide::org_layer;
use super::directory::Directory;
use crate::policy::{PartialRequest, Tri};

/// What the RCPs of one member account do to callers outside the organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RcpGuard {
    /// Denied whatever else the request holds, by this policy.
    Guarded(String),
    /// Not denied, or only under the conditions listed.
    Open(Vec<String>),
    /// The organization's policies could not be read.
    Unknown(String),
}

/// By member account (not the management account) holding a customer-managed key.
pub(super) fn rcp_guards(snapshot: &Snapshot, dir: &Directory) -> BTreeMap<String, RcpGuard> {
    let now = snapshot.metadata.started_at;
    let mut out = BTreeMap::new();
    for account in &snapshot.accounts {
        if !dir.is_member(&account.id) {
            continue;
        }
        let Some(key) = account
            .regions
            .iter()
            .flat_map(|r| &r.keys)
            .find(|k| k.metadata.is_none() || k.is_customer_managed())
        else {
            // No key found: unknown when a region's keys could not be listed, never "none".
            let unread = account.regions.iter().find_map(|r| match &r.access {
                RegionAccess::NotAssessed { issue } => Some(format!(
                    "the keys of {} in {} were not listed: {issue}",
                    account.id, r.region
                )),
                _ => None,
            });
            if let (AccountAccess::Scanned { .. }, Some(why)) = (&account.access, unread) {
                out.insert(account.id.clone(), RcpGuard::Unknown(why));
            }
            continue;
        };
        let guard = if dir.org.tree.is_some()
            && dir.org.unreadable.is_none()
            && !dir.org.applies(OrgPolicyKind::ResourceControlPolicy)
        {
            RcpGuard::Open(vec![])
        } else {
            let view = CallerRef::Anyone.view(dir, &account.id, now);
            let request = PartialRequest {
                caller: &view.caller,
                action: "kms:Decrypt",
                resource: &key.arn,
                known: &view.known,
                through_account: true,
            };
            match org_layer(dir, &account.id, &dir.org.rcps, &request, false) {
                (Err(reason), _, _) => RcpGuard::Unknown(reason),
                (Ok(_), Tri::Yes, by) => {
                    RcpGuard::Guarded(by.map(|(p, _)| p.label.clone()).unwrap_or_default())
                }
                (Ok(_), Tri::Open(conditions), _) => {
                    RcpGuard::Open(conditions.into_iter().collect())
                }
                (Ok(_), Tri::No, _) => RcpGuard::Open(vec![]),
            }
        };
        out.insert(account.id.clone(), guard);
    }
    out
}
