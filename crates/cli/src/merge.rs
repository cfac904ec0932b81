//! `kmsaudit merge`: shard snapshots (`scan --shard I/N`) joined into the one snapshot an
//! unsharded scan would have written, so the pack is rendered once for the whole organization.

use std::collections::BTreeMap;

use kmsaudit_model::{AccountAccess, AccountRecord, Issue, Shard, Snapshot};

/// Why shard snapshots cannot be joined.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum MergeError {
    #[error("no snapshot to merge")]
    Empty,
    #[error("snapshot {0} is not a shard (scan it with --shard I/N)")]
    NotAShard(usize),
    #[error("snapshot {0} is shard {1}, the others are of {2} shards")]
    ShardCount(usize, Shard, u32),
    #[error("shard {0} is given twice")]
    Duplicate(Shard),
    #[error("snapshot {index} differs from the first in {what}: {theirs} vs {ours}")]
    Differs {
        index: usize,
        what: &'static str,
        theirs: String,
        ours: String,
    },
}

/// Joins shard snapshots. They must come from the same organization, tool version and scope
/// (role, regions, account filters, Access Analyzer), each a different shard of the same count.
/// Every account comes from the shard that covers it; an account whose shard is missing is
/// NOT_ASSESSED with the reason, never left out. Times span the shards; call counts add up.
pub(crate) fn merge(shards: Vec<Snapshot>) -> Result<Snapshot, MergeError> {
    let first = shards.first().ok_or(MergeError::Empty)?;
    let count = first
        .metadata
        .scope
        .shard
        .ok_or(MergeError::NotAShard(1))?
        .count;
    let mut seen = BTreeMap::new();
    for (i, s) in shards.iter().enumerate() {
        let number = i + 1;
        let shard = s
            .metadata
            .scope
            .shard
            .ok_or(MergeError::NotAShard(number))?;
        if shard.count != count {
            return Err(MergeError::ShardCount(number, shard, count));
        }
        if seen.insert(shard.index, number).is_some() {
            return Err(MergeError::Duplicate(shard));
        }
        let differs = |what: &'static str, theirs: String, ours: String| {
            (theirs != ours).then_some(MergeError::Differs {
                index: number,
                what,
                theirs,
                ours,
            })
        };
        let org = |s: &Snapshot| {
            s.organization
                .as_ref()
                .map(|o| o.id.clone())
                .unwrap_or_else(|| "(none)".into())
        };
        let scope = |s: &Snapshot| {
            let mut scope = s.metadata.scope.clone();
            scope.shard = None;
            format!("{scope:?}")
        };
        if let Some(e) = differs("organization", org(s), org(first))
            .or_else(|| {
                differs(
                    "tool version",
                    s.metadata.tool_version.clone(),
                    first.metadata.tool_version.clone(),
                )
            })
            .or_else(|| {
                differs(
                    "schema version",
                    s.schema_version.to_string(),
                    first.schema_version.to_string(),
                )
            })
            .or_else(|| differs("scope", scope(s), scope(first)))
        {
            return Err(e);
        }
    }

    let mut shards = shards;
    shards.sort_by_key(|s| s.metadata.scope.shard.map(|s| s.index));
    // The first shard's metadata and organization, without cloning its accounts.
    let mut merged = Snapshot {
        schema_version: shards[0].schema_version,
        metadata: shards[0].metadata.clone(),
        organization: shards[0].organization.clone(),
        accounts: vec![],
        aws_managed_policies: vec![],
    };
    merged.metadata.scope.shard = None;
    merged.metadata.api_calls.clear();
    merged.metadata.api_errors.clear();
    let mut accounts: BTreeMap<String, AccountRecord> = BTreeMap::new();
    for s in shards {
        let shard = s.metadata.scope.shard.expect("checked above");
        let m = &mut merged.metadata;
        m.started_at = m.started_at.min(s.metadata.started_at);
        m.finished_at = m.finished_at.max(s.metadata.finished_at);
        for (op, n) in s.metadata.api_calls {
            let sum = m.api_calls.entry(op).or_default();
            *sum = sum.saturating_add(n);
        }
        for (op, n) in s.metadata.api_errors {
            let sum = m.api_errors.entry(op).or_default();
            *sum = sum.saturating_add(n);
        }
        // Each shard read the AWS managed policies its accounts attach: one copy of each.
        for policy in s.aws_managed_policies {
            if !merged
                .aws_managed_policies
                .iter()
                .any(|p| p.arn == policy.arn)
            {
                merged.aws_managed_policies.push(policy);
            }
        }
        for account in s.accounts {
            if shard.covers(&account.id) {
                accounts.insert(account.id.clone(), account);
            } else {
                // Listed here, scanned by another shard: missing unless that shard is merged.
                let own = Shard::of(&account.id, count);
                accounts
                    .entry(account.id.clone())
                    .or_insert_with(|| AccountRecord {
                        access: AccountAccess::NotAssessed {
                            issue: Issue::new(
                                "kmsaudit merge",
                                "ShardMissing",
                                format!(
                                    "shard {own} was not merged, so this account was not scanned"
                                ),
                            ),
                        },
                        regions: vec![],
                        ..account
                    });
            }
        }
    }
    merged.accounts = accounts.into_values().collect();
    merged.normalize();
    Ok(merged)
}
