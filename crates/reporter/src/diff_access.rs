//! Access gained and lost between two audits: each (key, principal, capability) of both
//! documents' access groups, merged in order.

use std::collections::BTreeSet;

use kmsaudit_model::{AccessVerdict, Capability, FindingsDocument};
use serde::Serialize;

/// One principal's capability on one key, gained or lost.
///
/// Ranked allowed over conditional over none: conditional → allowed is gained, allowed →
/// conditional is lost. A row NOT_ASSESSED on either side is left out (nothing is known to
/// have changed: the findings diff reports the lost sight).
#[derive(Debug, Clone, Serialize)]
pub struct AccessChange {
    /// `access_gained` or `access_lost`.
    pub change: &'static str,
    pub key_arn: String,
    pub principal: String,
    pub capability: Capability,
    pub old_verdict: Option<AccessVerdict>,
    pub new_verdict: Option<AccessVerdict>,
    /// The path of the newer answer (the older one for access lost).
    pub via: String,
}

/// Each (key, principal, capability) of a document as (key's resource index, group index),
/// sorted by key ARN, principal and capability. Eight bytes a row: a document of 1,000
/// accounts holds tens of millions. Sorted by numbers, not text: resources are listed in ARN
/// order already, and each principal is ranked once.
fn access_rows(doc: &FindingsDocument<'_>) -> Vec<(u32, u32)> {
    let Some(groups) = &doc.access else {
        return vec![];
    };
    // Each group's (principal rank, capability), the principals ranked in text order.
    let mut principals: Vec<&str> = groups.iter().map(|g| g.answer.principal).collect();
    principals.sort_unstable();
    principals.dedup();
    assert!(principals.len() < 1 << 29, "too many principals to rank");
    // Each group's order below its key: principal rank, then capability, in one number.
    let group_order: Vec<u64> = groups
        .iter()
        .map(|g| {
            let rank = principals
                .binary_search(&g.answer.principal)
                .expect("every principal is ranked");
            ((rank as u64) << 3) | g.answer.capability as u64
        })
        .collect();
    // (key index, group order) packed into one number to sort by, beside the group.
    let mut rows: Vec<(u64, u32)> = Vec::new();
    for (i, g) in groups.iter().enumerate() {
        let group = u32::try_from(i).expect("under 4G groups");
        let order = group_order[i];
        let known = g
            .keys
            .iter()
            .filter(|&&k| (k as usize) < doc.resources.len());
        rows.extend(known.map(|&k| ((u64::from(k) << 32) | order, group)));
    }
    drop(group_order);
    rows.sort_unstable_by_key(|&(order, _)| order);
    // A row a document repeats counts once.
    rows.dedup_by_key(|&mut (order, _)| order);
    rows.into_iter()
        .map(|(order, group)| ((order >> 32) as u32, group))
        .collect()
}

/// A row of [`access_rows`]: its (key ARN, principal, capability), and its verdict and path.
fn read_row<'d>(
    doc: &'d FindingsDocument<'_>,
    (k, g): (u32, u32),
) -> ((&'d str, &'d str, Capability), (AccessVerdict, &'d str)) {
    let g = doc.access.as_ref().and_then(|a| a.get(g as usize));
    let g = g.expect("a group of the document");
    let key = doc.resources[k as usize].id.as_ref();
    let a = g.answer;
    ((key, a.principal, a.capability), (a.verdict, a.via))
}

fn access_rank(v: Option<AccessVerdict>) -> Option<u8> {
    match v {
        None => Some(0),
        Some(AccessVerdict::Conditional) => Some(1),
        Some(AccessVerdict::Allowed) => Some(2),
        Some(AccessVerdict::NotAssessed) => None,
    }
}

/// Access gained and lost between two documents that both computed it, on keys both hold.
pub(crate) fn access_changes(
    old: &FindingsDocument<'_>,
    new: &FindingsDocument<'_>,
    kept_keys: &BTreeSet<String>,
) -> Vec<AccessChange> {
    if old.access.is_none() || new.access.is_none() {
        return vec![];
    }
    let (before, after) = (access_rows(old), access_rows(new));
    let (old_doc, new_doc) = (old, new);
    let (old, new) = (|row| read_row(old_doc, row), |row| read_row(new_doc, row));
    let (mut b_rows, mut a_rows) = (before.into_iter().peekable(), after.into_iter().peekable());
    let mut out = Vec::new();
    loop {
        // The next (key, principal, capability) of either document, with each one's answer.
        let (at, b, a) = match (b_rows.peek(), a_rows.peek()) {
            (None, None) => break,
            (Some(&x), None) => {
                b_rows.next();
                let (at, v) = old(x);
                (at, Some(v), None)
            }
            (None, Some(&y)) => {
                a_rows.next();
                let (at, v) = new(y);
                (at, None, Some(v))
            }
            (Some(&x), Some(&y)) => {
                let ((bx, vb), (ay, va)) = (old(x), new(y));
                match bx.cmp(&ay) {
                    std::cmp::Ordering::Less => {
                        b_rows.next();
                        (bx, Some(vb), None)
                    }
                    std::cmp::Ordering::Greater => {
                        a_rows.next();
                        (ay, None, Some(va))
                    }
                    std::cmp::Ordering::Equal => {
                        b_rows.next();
                        a_rows.next();
                        (bx, Some(vb), Some(va))
                    }
                }
            }
        };
        if !kept_keys.contains(at.0) {
            continue;
        }
        let (Some(rb), Some(ra)) = (access_rank(b.map(|x| x.0)), access_rank(a.map(|x| x.0)))
        else {
            continue;
        };
        let (change, shown) = match ra.cmp(&rb) {
            std::cmp::Ordering::Greater => ("access_gained", a),
            std::cmp::Ordering::Less => ("access_lost", b),
            std::cmp::Ordering::Equal => continue,
        };
        out.push(AccessChange {
            change,
            key_arn: at.0.to_string(),
            principal: at.1.to_string(),
            capability: at.2,
            old_verdict: b.map(|x| x.0),
            new_verdict: a.map(|x| x.0),
            via: shown.map(|x| x.1.to_string()).unwrap_or_default(),
        });
    }
    out
}
