//! compliance.csv: the control view an auditor files, one row per (framework, control) with
//! its title, status, the rules that decide it and the resource counts (see `controls.rs` for
//! how a control's status is decided).

use std::io::Write;

use kmsaudit_model::Evaluation;

use crate::controls::control_rows;
use crate::csv_out::{write, Row};

pub(crate) fn compliance_csv(out: &mut dyn Write, evaluation: &Evaluation) -> std::io::Result<()> {
    let header = [
        "framework",
        "control",
        "title",
        "status",
        "rules",
        "resources_passing",
        "resources_failing",
        "resources_muted",
        "resources_not_assessed",
    ];
    let rows = control_rows(evaluation).into_iter().map(|c| {
        Row::default()
            .text(c.framework)
            .text(c.control)
            .text(c.title)
            .text(c.status)
            .text(c.rules.join(" "))
            .text(c.pass.to_string())
            .text(c.fail.to_string())
            .text(c.muted.to_string())
            .text(c.not_assessed.to_string())
    });
    write(out, &header, rows)
}
