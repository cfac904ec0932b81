//! access.csv: who can use or administer each key, one row per (key, principal, capability)
//! that is allowed, conditional or not assessed. Written when the scan read IAM.

use std::io::Write;

use kmsaudit_model::Evaluation;

use crate::csv_out::{write, Row};

/// The columns, in order.
pub(crate) const ACCESS_HEADER: [&str; 7] = [
    "key_arn",
    "principal",
    "principal_account",
    "capability",
    "verdict",
    "via",
    "conditions",
];

pub(crate) fn access_csv(out: &mut dyn Write, evaluation: &Evaluation) -> std::io::Result<()> {
    let rows = evaluation
        .access
        .iter()
        .flat_map(|t| t.rows())
        .map(|(key, r)| {
            Row::default()
                .text(key)
                .text(&r.principal)
                .text(r.principal_account.as_deref().unwrap_or(""))
                .text(r.capability.as_str())
                .text(r.verdict.as_str())
                .text(&r.via)
                .text(r.conditions.join("; "))
        });
    write(out, &ACCESS_HEADER, rows)
}
