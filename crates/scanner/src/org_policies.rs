//! The organization's tree (root, OUs, accounts) and its SCPs and RCPs with where each is
//! attached, read with the caller's credentials from the management account or a delegated
//! administrator: `ListRoots`, `ListOrganizationalUnitsForParent` and `ListAccountsForParent`
//! per parent, `ListPolicies` per type, `DescribePolicy` and `ListTargetsForPolicy` per policy.

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_sdk_organizations::types::{PolicyType, PolicyTypeStatus};
use kmsaudit_model::{Issue, OrgPolicies, OrgPolicy, OrgPolicyKind};

use crate::classify::issue;
use crate::Scanner;

/// OUs deep, at most (Organizations allows five levels below the root).
const MAX_DEPTH: usize = 8;

impl Scanner {
    /// The tree and its policies. A failure is recorded in `errors` and what was read is kept:
    /// the evaluator then answers NOT_ASSESSED where SCPs or RCPs could decide.
    pub(crate) async fn read_org_policies(&self) -> OrgPolicies {
        let orgs = aws_sdk_organizations::Client::from_conf(
            aws_sdk_organizations::config::Builder::from(&self.base)
                .interceptor(self.counter.clone())
                .build(),
        );
        let mut out = OrgPolicies::default();
        let roots = match self
            .all_pages(orgs.list_roots().into_paginator().send())
            .await
        {
            Ok(pages) => pages
                .iter()
                .flat_map(|p| p.roots().to_vec())
                .collect::<Vec<_>>(),
            Err(e) => {
                out.errors.push(issue("Organizations.ListRoots", &e));
                return out;
            }
        };
        let Some(root) = roots.first() else {
            out.errors.push(Issue::new(
                "Organizations.ListRoots",
                "NoRoot",
                "the organization has no root",
            ));
            return out;
        };
        out.root_id = root.id().unwrap_or_default().to_string();
        for t in root.policy_types() {
            let kind = match t.r#type() {
                Some(PolicyType::ServiceControlPolicy) => OrgPolicyKind::ServiceControlPolicy,
                Some(PolicyType::ResourceControlPolicy) => OrgPolicyKind::ResourceControlPolicy,
                _ => continue,
            };
            if t.status() == Some(&PolicyTypeStatus::Enabled) {
                out.enabled.push(kind);
            }
        }
        out.enabled.sort();
        let mut parents = BTreeMap::new();
        let mut level = vec![out.root_id.clone()];
        for _ in 0..MAX_DEPTH {
            let mut next = vec![];
            for parent in &level {
                let accounts = orgs
                    .list_accounts_for_parent()
                    .parent_id(parent)
                    .into_paginator()
                    .send();
                match self.all_pages(accounts).await {
                    Ok(pages) => {
                        for a in pages
                            .iter()
                            .flat_map(|p| p.accounts())
                            .filter_map(|a| a.id())
                        {
                            parents.insert(a.to_string(), parent.clone());
                        }
                    }
                    Err(e) => out
                        .errors
                        .push(issue("Organizations.ListAccountsForParent", &e)),
                }
                let ous = orgs
                    .list_organizational_units_for_parent()
                    .parent_id(parent)
                    .into_paginator()
                    .send();
                match self.all_pages(ous).await {
                    Ok(pages) => {
                        for ou in pages
                            .iter()
                            .flat_map(|p| p.organizational_units())
                            .filter_map(|o| o.id())
                        {
                            parents.insert(ou.to_string(), parent.clone());
                            next.push(ou.to_string());
                        }
                    }
                    Err(e) => out
                        .errors
                        .push(issue("Organizations.ListOrganizationalUnitsForParent", &e)),
                }
            }
            if next.is_empty() {
                break;
            }
            level = next;
        }
        out.parents = parents;
        for (filter, kind) in [
            (
                PolicyType::ServiceControlPolicy,
                OrgPolicyKind::ServiceControlPolicy,
            ),
            (
                PolicyType::ResourceControlPolicy,
                OrgPolicyKind::ResourceControlPolicy,
            ),
        ] {
            if !out.enabled.contains(&kind) {
                continue;
            }
            let listing = orgs.list_policies().filter(filter).into_paginator().send();
            let summaries = match self.all_pages(listing).await {
                Ok(pages) => pages
                    .iter()
                    .flat_map(|p| p.policies().to_vec())
                    .collect::<Vec<_>>(),
                Err(e) => {
                    out.errors.push(issue("Organizations.ListPolicies", &e));
                    continue;
                }
            };
            for s in summaries {
                let id = s.id().unwrap_or_default().to_string();
                match self.read_org_policy(&orgs, &id, kind).await {
                    Ok(p) => out.policies.push(p),
                    Err(i) => out.errors.push(i),
                }
            }
        }
        out.policies.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }

    async fn read_org_policy(
        &self,
        orgs: &aws_sdk_organizations::Client,
        id: &str,
        kind: OrgPolicyKind,
    ) -> Result<OrgPolicy, Issue> {
        let described = orgs
            .describe_policy()
            .policy_id(id)
            .send()
            .await
            .map_err(|e| issue("Organizations.DescribePolicy", &e))?;
        let policy = described.policy();
        let targets = orgs
            .list_targets_for_policy()
            .policy_id(id)
            .into_paginator()
            .send();
        let mut targets: Vec<String> = self
            .all_pages(targets)
            .await
            .map_err(|e| issue("Organizations.ListTargetsForPolicy", &e))?
            .iter()
            .flat_map(|p| p.targets())
            .filter_map(|t| t.target_id().map(str::to_string))
            .collect();
        targets.sort();
        Ok(OrgPolicy {
            id: id.to_string(),
            name: policy
                .and_then(|p| p.policy_summary())
                .and_then(|s| s.name())
                .unwrap_or_default()
                .to_string(),
            kind,
            document: Arc::from(policy.and_then(|p| p.content()).unwrap_or_default()),
            targets,
        })
    }
}
