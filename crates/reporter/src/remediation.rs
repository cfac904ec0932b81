//! The pack's `remediation/` folder: per key whose policy fails a policy rule and has a checked
//! fix, `<stem>.json` (the proposed policy, exactly what the command applies) and `<stem>.diff`
//! (what it fixes and does not, the command, and the unified diff against the current policy).

use kmsaudit_model::{for_terminal, KeyRemediation};

/// A stem the evaluator made: letters, digits and `-` only (checked again: it names a file).
fn safe_stem(stem: &str) -> bool {
    !stem.is_empty()
        && stem.len() <= 160
        && stem.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// The two files of one proposal, by pack name.
pub(crate) fn files(r: &KeyRemediation) -> Vec<(String, Vec<u8>)> {
    if !safe_stem(&r.stem) {
        return vec![];
    }
    let mut head = format!(
        "# kmsaudit: proposed key policy for {}\n# Checked by re-analysis: the findings below are gone, no finding is new, and every\n# principal that could change the key policy still can. Nothing was applied.\n",
        for_terminal(&r.key_arn)
    );
    for f in &r.fixed {
        head.push_str(&format!(
            "# fixes {}: {}\n",
            f.rule_id,
            for_terminal(&f.text)
        ));
    }
    for f in &r.refused {
        head.push_str(&format!(
            "# still fails {}: {}\n",
            f.rule_id,
            for_terminal(&f.text)
        ));
    }
    head.push_str(&format!(
        "# apply, from the pack's folder: {}\n",
        for_terminal(&r.command)
    ));
    vec![
        (
            format!("remediation/{}.json", r.stem),
            r.policy.clone().into_bytes(),
        ),
        (
            format!("remediation/{}.diff", r.stem),
            (head + &r.diff).into_bytes(),
        ),
    ]
}
