//! `lint-policy` (key policies before they are applied: policy files, CloudFormation
//! templates, Terraform plans) and `rules` (the catalog).

use anyhow::Context;
use kmsaudit_evaluator::{LintOptions, LintReport};

use crate::lint_input::{Document, Known, STACK_ACCOUNT};
use crate::{exit, load_config, usage, Format, LintArgs, LintFormat};

pub(crate) fn lint(args: LintArgs) -> anyhow::Result<u8> {
    let config = load_config(args.config.as_deref())?;
    let files = crate::lint_input::expand(&args.files).map_err(usage)?;
    let known = Known {
        account: args.key_account.clone().or_else(|| {
            args.key_arn
                .as_deref()
                .and_then(kmsaudit_model::arn_account)
                .map(str::to_string)
        }),
        region: args
            .key_arn
            .as_deref()
            .and_then(|a| a.split(':').nth(3))
            .map(str::to_string),
    };
    let options = LintOptions {
        key_account: args.key_account.clone(),
        key_arn: args.key_arn.clone(),
        org_accounts: args.org_accounts.clone(),
        org_id: args.org_id.clone(),
        config,
        // Time conditions in lint-policy are judged against the current time.
        now: Some(kmsaudit_model::Timestamp::now()),
    };
    let mut linted = Vec::new();
    let mut unreadable = Vec::new();
    for file in &files {
        let documents = crate::lint_input::read(file)
            .and_then(|text| crate::lint_input::documents(&text, &known))
            .map_err(|e| format!("{file}: {e}"));
        match documents {
            Err(e) => unreadable.push(e),
            Ok(documents) => {
                for document in documents {
                    let report = document
                        .text
                        .as_deref()
                        .map(|text| kmsaudit_evaluator::lint_policy(text, &options));
                    let fix = match (&document.text, &report) {
                        (Some(text), Some(r)) if args.fix && !r.findings.is_empty() => {
                            Some(kmsaudit_evaluator::propose_policy_fix(text, &options))
                        }
                        _ => None,
                    };
                    linted.push(Linted {
                        file: file.clone(),
                        document,
                        report,
                        fix,
                    });
                }
            }
        }
    }
    match args.format {
        LintFormat::Text => print_text(&linted),
        LintFormat::Json => out_raw!(
            "{}",
            serde_json::to_string_pretty(&json_report(&linted))
                .context("serializing the lint report")?
        ),
        LintFormat::Sarif => out_raw!(
            "{}",
            serde_json::to_string_pretty(&crate::sarif::sarif(&linted))
                .context("serializing the SARIF log")?
        ),
    }
    for e in &unreadable {
        err_out!("kmsaudit: error: {e}");
    }
    if !unreadable.is_empty() {
        return Ok(exit::USAGE);
    }
    let findings = || {
        linted
            .iter()
            .flat_map(|l| l.report.iter().flat_map(|r| &r.findings))
    };
    let failing = args
        .fail_on
        .0
        .is_some_and(|min| findings().any(|f| f.severity >= min));
    let incomplete = linted.iter().any(|l| match &l.report {
        None => l.document.note.is_some() && l.document.text.is_none() && !l.is_default_policy(),
        Some(r) => r.parse_error.is_some() || !r.not_assessed.is_empty(),
    });
    Ok(if failing {
        exit::FAILING
    } else if incomplete {
        exit::INCOMPLETE
    } else {
        exit::OK
    })
}

/// One key policy of a file, and what the linter found in it (`None`: nothing to lint).
pub(crate) struct Linted {
    pub(crate) file: String,
    pub(crate) document: Document,
    pub(crate) report: Option<LintReport>,
    /// With `--fix`, for a policy with findings: the checked proposal.
    pub(crate) fix: Option<kmsaudit_evaluator::PolicyFix>,
}

impl Linted {
    /// A key without a policy gets KMS's default one: nothing is hidden.
    fn is_default_policy(&self) -> bool {
        self.document
            .note
            .as_deref()
            .is_some_and(|n| n.contains("default policy"))
    }

    /// `file:line:column` of statement `index` (else of the policy).
    pub(crate) fn at(&self, index: Option<usize>) -> String {
        let (line, column) = self.document.position(index);
        format!("{}:{line}:{column}", self.file)
    }

    /// The key account line, when the linter read it from the policy.
    fn key_account(&self) -> Option<String> {
        let r = self.report.as_ref()?;
        let source = r.key_account_source.as_deref()?;
        let account = r.key_account.as_deref()?;
        source.starts_with("inferred").then(|| {
            if account == STACK_ACCOUNT {
                format!("the stack's own account (AWS::AccountId, shown as {account}), {source}")
            } else {
                format!("{account}, {source}")
            }
        })
    }
}

fn print_text(linted: &[Linted]) {
    let mut findings = 0;
    for l in linted {
        let doc = &l.document.name;
        if let Some(note) = &l.document.note {
            out!("{}: NOTE {doc}: {note}", l.at(None));
        }
        let Some(report) = &l.report else { continue };
        if let Some(account) = l.key_account() {
            out!("{}: NOTE {doc}: key account {account}", l.at(None));
        }
        for note in &report.notes {
            out!("{}: NOTE {doc}: {note}", l.at(None));
        }
        for f in &report.findings {
            findings += 1;
            let statement = match (f.statement_index, &f.sid) {
                (Some(i), Some(sid)) => format!(" statement {i} (Sid {sid})"),
                (Some(i), None) => format!(" statement {i}"),
                _ => String::new(),
            };
            out!(
                "{}: {} {} {doc}{statement}: {}",
                l.at(f.statement_index),
                f.severity.as_str().to_uppercase(),
                f.rule_id,
                f.explanation
            );
        }
        for na in &report.not_assessed {
            out!("{}: NOT_ASSESSED {doc}: {na}", l.at(None));
        }
        if let Some(fix) = &l.fix {
            crate::lint_fix::print_fix(l, report, fix);
        }
        if report.parse_error.is_none() {
            let s = &report.summary;
            out!(
                "{}: summary {doc}: public={} external_accounts=[{}] wildcard_admin={} separation_of_duties_violation={} iam_policies_enabled={}",
                l.at(None),
                s.public,
                s.external_accounts.join(","),
                s.wildcard_admin,
                s.separation_of_duties_violation,
                s.iam_policies_enabled
            );
        }
    }
    let files: std::collections::BTreeSet<&str> = linted.iter().map(|l| l.file.as_str()).collect();
    out!(
        "{} in {}: {}",
        crate::plural(linted.len(), "key policy", "key policies"),
        crate::plural(files.len(), "file", "files"),
        if findings == 0 {
            "no findings".to_string()
        } else {
            crate::plural(findings, "finding", "findings")
        }
    );
}

fn json_report(linted: &[Linted]) -> serde_json::Value {
    let documents: Vec<serde_json::Value> = linted
        .iter()
        .map(|l| {
            let (line, column) = l.document.position(None);
            let mut doc = serde_json::json!({
                "file": l.file,
                "document": l.document.name,
                "line": line,
                "column": column,
            });
            if let Some(note) = &l.document.note {
                doc["note"] = note.as_str().into();
            }
            if let Some(report) = &l.report {
                let mut value = serde_json::to_value(report).expect("a lint report serializes");
                for (f, out) in report.findings.iter().zip(
                    value["findings"]
                        .as_array_mut()
                        .expect("findings is a list")
                        .iter_mut(),
                ) {
                    let (line, column) = l.document.position(f.statement_index);
                    out["line"] = line.into();
                    out["column"] = column.into();
                }
                doc["report"] = value;
            }
            if let Some(fix) = &l.fix {
                doc["fix"] = crate::lint_fix::fix_json(l, fix);
            }
            doc
        })
        .collect();
    serde_json::json!({ "documents": documents })
}

pub(crate) fn rules(format: Format, frameworks: bool) -> anyhow::Result<u8> {
    if frameworks {
        return print_frameworks(format);
    }
    let catalog = kmsaudit_evaluator::rule_catalog();
    if format == Format::Json {
        out_raw!("{}", serde_json::to_string_pretty(&catalog)?);
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

/// `kmsaudit rules --frameworks`: each framework's key, name and mapped controls.
fn print_frameworks(format: Format) -> anyhow::Result<u8> {
    let frameworks = kmsaudit_evaluator::frameworks(&[]);
    if format == Format::Json {
        out_raw!("{}", serde_json::to_string_pretty(&frameworks)?);
        return Ok(exit::OK);
    }
    let catalog = kmsaudit_evaluator::rule_catalog();
    for f in &frameworks {
        out!("{}  {}", f.key, f.name);
        for c in &f.controls {
            let rules: Vec<&str> = catalog
                .iter()
                .filter(|r| {
                    r.compliance
                        .get(&f.name)
                        .is_some_and(|ids| ids.contains(&c.id))
                })
                .map(|r| r.id.as_str())
                .collect();
            out!("    {:<22} {}", c.id, c.title);
            out!("    {:<22} rules: {}", "", rules.join(" "));
            out!("    {:<22} source: {}", "", c.sources.join("; "));
        }
    }
    Ok(exit::OK)
}
