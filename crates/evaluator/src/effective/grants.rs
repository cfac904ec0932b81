//! What a key's grants give their grantees: each grantee's grants, and for one action whether
//! a grant gives it certainly, under an encryption context constraint, or not at all.

use std::collections::{BTreeMap, BTreeSet};

use kmsaudit_model::KeyRecord;

use crate::policy::Tri;

/// The key's grants by grantee: for each, the grant ids, operations and constraints.
pub(super) fn grants_by_grantee(key: &KeyRecord) -> BTreeMap<String, Vec<&kmsaudit_model::Grant>> {
    let mut out: BTreeMap<String, Vec<_>> = BTreeMap::new();
    for g in key.grants.iter().flatten() {
        if let Some(grantee) = &g.grantee_principal {
            out.entry(grantee.clone()).or_default().push(g);
        }
    }
    out
}

/// What the key's grants give `grantee` for `action`: certainly, under an encryption context
/// constraint, or nothing; with the grant that does.
pub(super) fn grant_for(
    grants: &BTreeMap<String, Vec<&kmsaudit_model::Grant>>,
    grantee: &str,
    action: &str,
) -> (Tri, Option<String>) {
    let op = action.trim_start_matches("kms:");
    let mut result = (Tri::No, None);
    for g in grants.get(grantee).into_iter().flatten() {
        if !g.operations.iter().any(|o| o == op) {
            continue;
        }
        let tri = match &g.constraints {
            Some(c) if !c.is_empty() => Tri::Open(BTreeSet::from([format!(
                "the encryption context matches grant {}'s constraints",
                g.grant_id
            )])),
            _ => Tri::Yes,
        };
        if result.1.is_none() || tri == Tri::Yes {
            result.1 = Some(format!("grant {}", g.grant_id));
        }
        result.0 = result.0.or(tri);
    }
    result
}
