//! `lint-policy` (one key policy before it is applied) and `rules` (the catalog).

use std::io::Read;

use anyhow::Context;
use kmsaudit_evaluator::LintOptions;

use crate::{exit, load_config, usage, Format, LintArgs};

pub(crate) fn lint(args: LintArgs) -> anyhow::Result<u8> {
    let text = if args.file == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| usage(format!("cannot read standard input: {e}")))?;
        s
    } else {
        std::fs::read_to_string(&args.file)
            .map_err(|e| usage(format!("cannot read {}: {e}", args.file)))?
    };
    let config = load_config(args.config.as_deref())?;
    let options = LintOptions {
        key_account: args.key_account,
        key_arn: args.key_arn,
        org_accounts: args.org_accounts,
        org_id: args.org_id,
        config,
    };
    let report = kmsaudit_evaluator::lint_policy(&text, &options);
    match args.format {
        Format::Json => out!(
            "{}",
            serde_json::to_string_pretty(&report).context("serializing the lint report")?
        ),
        Format::Text => {
            for f in &report.findings {
                let at = match (f.statement_index, &f.sid) {
                    (Some(i), Some(sid)) => format!("statement {i} (Sid {sid})"),
                    (Some(i), None) => format!("statement {i}"),
                    _ => "policy".into(),
                };
                out!(
                    "{:<8} {} {at}: {}",
                    f.severity.as_str().to_uppercase(),
                    f.rule_id,
                    f.explanation
                );
            }
            for na in &report.not_assessed {
                out!("NOT_ASSESSED {na}");
            }
            if report.parse_error.is_none() {
                let s = &report.summary;
                out!(
                    "summary: public={} external_accounts=[{}] wildcard_admin={} separation_of_duties_violation={} iam_policies_enabled={}",
                    s.public,
                    s.external_accounts.join(","),
                    s.wildcard_admin,
                    s.separation_of_duties_violation,
                    s.iam_policies_enabled
                );
                if report.findings.is_empty() {
                    out!("no findings");
                }
            }
        }
    }
    if let Some(e) = report.parse_error {
        return Err(usage(format!(
            "{}: the policy could not be parsed: {e}",
            args.file
        )));
    }
    let failing = args
        .fail_on
        .0
        .is_some_and(|min| report.findings.iter().any(|f| f.severity >= min));
    Ok(if failing { 1 } else { 0 })
}

pub(crate) fn rules(format: Format) -> anyhow::Result<u8> {
    let catalog = kmsaudit_evaluator::rule_catalog();
    if format == Format::Json {
        out!("{}", serde_json::to_string_pretty(&catalog)?);
        return Ok(exit::OK);
    }
    let width = catalog.iter().map(|r| r.id.len()).max().unwrap_or(0);
    out!("{:<width$}  {:<8}  TITLE / MAPPINGS", "ID", "SEVERITY");
    for r in &catalog {
        out!("{:<width$}  {:<8}  {}", r.id, r.severity.as_str(), r.title);
        let mappings = r.compliance_refs();
        if !mappings.is_empty() {
            out!("{:<width$}  {:<8}  {}", "", "", mappings.join("; "));
        }
    }
    Ok(exit::OK)
}
