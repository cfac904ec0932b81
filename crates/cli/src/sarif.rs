//! `lint-policy --format sarif`: SARIF 2.1.0, which code-scanning services (GitHub, GitLab,
//! Azure DevOps) turn into annotations on the lines of the statements.

use std::collections::BTreeMap;

use kmsaudit_model::{RuleInfo, Severity};
use serde_json::{json, Value};

use crate::policy::Linted;

/// The SARIF log of a lint run: one run, its rules, a result per finding, and the notes
/// (policies not analysed, rules not assessed) as tool notifications.
pub(crate) fn sarif(linted: &[Linted]) -> Value {
    let catalog: BTreeMap<String, RuleInfo> = kmsaudit_evaluator::rule_catalog()
        .into_iter()
        .map(|r| (r.id.clone(), r))
        .collect();
    let mut rule_ids: Vec<&str> = linted
        .iter()
        .flat_map(|l| l.report.iter().flat_map(|r| &r.findings))
        .map(|f| f.rule_id.as_str())
        .collect();
    rule_ids.sort_unstable();
    rule_ids.dedup();
    let rules: Vec<Value> = rule_ids
        .iter()
        .map(|id| match catalog.get(*id) {
            Some(r) => json!({
                "id": r.id,
                "shortDescription": {"text": r.title},
                "fullDescription": {"text": r.rationale},
                "help": {"text": r.remediation},
                "defaultConfiguration": {"level": level(r.severity)},
                "properties": {
                    "security-severity": security_severity(r.severity),
                    "tags": ["security", "aws-kms"],
                },
            }),
            None => json!({"id": id}),
        })
        .collect();
    let mut results = Vec::new();
    let mut notes = Vec::new();
    for l in linted {
        let doc = &l.document.name;
        if let Some(note) = &l.document.note {
            notes.push(notification(l, None, &format!("{doc}: {note}")));
        }
        let Some(report) = &l.report else { continue };
        for na in &report.not_assessed {
            notes.push(notification(l, None, &format!("{doc}: not assessed: {na}")));
        }
        for f in &report.findings {
            let statement = match (f.statement_index, &f.sid) {
                (Some(i), Some(sid)) => format!(" (statement {i}, Sid {sid})"),
                (Some(i), None) => format!(" (statement {i})"),
                _ => String::new(),
            };
            results.push(json!({
                "ruleId": f.rule_id,
                "ruleIndex": rule_ids.iter().position(|r| *r == f.rule_id),
                "level": level(f.severity),
                "message": {"text": format!("{}{statement}: {}", doc, f.explanation)},
                "locations": [location(l, f.statement_index)],
                "properties": {
                    "severity": f.severity.as_str(),
                    "document": doc,
                    "statementIndex": f.statement_index,
                },
            }));
        }
    }
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "kmsaudit",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "invocations": [{
                "executionSuccessful": true,
                "toolExecutionNotifications": notes,
            }],
            "results": results,
        }],
    })
}

fn location(l: &Linted, statement: Option<usize>) -> Value {
    let (line, column) = l.document.position(statement);
    let uri = if l.file == "-" {
        "stdin".to_string()
    } else {
        l.file.replace('\\', "/")
    };
    json!({
        "physicalLocation": {
            "artifactLocation": {"uri": uri},
            "region": {"startLine": line, "startColumn": column},
        },
        "logicalLocations": [{"name": l.document.name, "kind": "object"}],
    })
}

fn notification(l: &Linted, statement: Option<usize>, text: &str) -> Value {
    json!({
        "level": "note",
        "message": {"text": text},
        "locations": [location(l, statement)],
    })
}

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

/// GitHub code scanning reads this property (0.0 to 10.0) as the alert's severity.
fn security_severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
        Severity::Info => "0.0",
    }
}
