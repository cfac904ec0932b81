//! CSV for spreadsheets: RFC 4180 quoting (the `csv` crate) plus formula-injection
//! neutralisation of every text cell. Numeric columns stay numbers.

use std::io::Write;

use kmsaudit_model::{Evaluation, Snapshot, Status, Timestamp};

/// A text cell that a spreadsheet will not run and that shows what it holds: display controls
/// (escape sequences, bidi overrides) other than line breaks and tabs are written as `\u{202e}`
/// text, NULs dropped; a formula trigger (`=`, `+`, `-`, `@`, or their fullwidth forms) after
/// any leading whitespace (spaces, line feeds, no-break spaces), and a leading tab or carriage
/// return, get a `'` in
/// front (OWASP CSV injection).
pub fn neutralize(text: &str) -> String {
    // Most cells (ARNs, ids, paths) are printable ASCII with no trigger: taken as they are,
    // without the walk below (access.csv has millions of rows).
    let bytes = text.as_bytes();
    if bytes.iter().all(|b| (0x20..0x7f).contains(b))
        && !matches!(
            bytes.iter().find(|&&b| b != b' '),
            Some(b'=' | b'+' | b'-' | b'@')
        )
    {
        return text.to_string();
    }
    let mut cleaned = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\0' => {}
            '\n' | '\t' | '\r' => cleaned.push(c),
            c if kmsaudit_model::is_display_control(c) => {
                cleaned.push_str(&format!("\\u{{{:x}}}", c as u32))
            }
            c => cleaned.push(c),
        }
    }
    let first = cleaned.chars().find(|c| !c.is_whitespace());
    let trigger = matches!(
        first,
        Some('=' | '+' | '-' | '@' | '\u{FF1D}' | '\u{FF0B}' | '\u{FF0D}' | '\u{FF20}')
    );
    if trigger || cleaned.starts_with(['\t', '\r']) {
        format!("'{cleaned}")
    } else {
        cleaned
    }
}

/// One CSV row being built: text goes through [`neutralize`], numbers do not.
#[derive(Default)]
pub(crate) struct Row(Vec<String>);

impl Row {
    pub(crate) fn text(mut self, s: impl AsRef<str>) -> Self {
        self.0.push(neutralize(s.as_ref()));
        self
    }
    /// The cells so far.
    pub(crate) fn cells(&self) -> &[String] {
        &self.0
    }
    pub(crate) fn num(mut self, n: impl Into<i64>) -> Self {
        self.0.push(n.into().to_string());
        self
    }
    /// An RFC 3339 time, or an empty cell.
    /// To the second, in UTC (`2026-11-23T10:00:05Z`): what spreadsheets parse as a time.
    pub(crate) fn time(mut self, t: Option<Timestamp>) -> Self {
        self.0.push(
            t.map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
                .unwrap_or_default(),
        );
        self
    }
    pub(crate) fn opt_num(mut self, n: Option<i64>) -> Self {
        self.0.push(n.map(|n| n.to_string()).unwrap_or_default());
        self
    }
}

/// A status as a cell: `PASS`, `FAIL`, ...; `MUTED:` before a muted one.
pub(crate) fn status_cell(status: Status, muted: bool) -> String {
    if muted {
        format!("MUTED:{}", status.as_str())
    } else {
        status.as_str().to_string()
    }
}

/// UTF-8 byte order mark: Excel then reads the file as UTF-8 (Sheets ignores it).
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Writes the BOM, the header and the rows, one row at a time (rows are made as they are
/// written, so a file is never held whole).
pub(crate) fn write(
    out: &mut dyn Write,
    header: &[&str],
    rows: impl IntoIterator<Item = Row>,
) -> std::io::Result<()> {
    out.write_all(BOM)?;
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(out);
    w.write_record(header)?;
    for r in rows {
        w.write_record(&r.0)?;
    }
    w.flush()
}

/// One row per finding that needs attention (FAIL, NOT_ASSESSED, muted), with its evidence. The
/// rule texts are in `rules.csv` (joined by `rule_id`); PASS and NOT_APPLICABLE outcomes are in
/// `matrix.csv`. A finding is identified by (`rule_id`, `resource`); the scan's times are in
/// manifest.json.
pub(crate) fn findings_csv(
    out: &mut dyn Write,
    snapshot: &Snapshot,
    evaluation: &Evaluation,
) -> std::io::Result<()> {
    let header = [
        "rule_id",
        "severity",
        "status",
        "muted",
        "mute_reason",
        "account_id",
        "account_name",
        "region",
        "resource_type",
        "resource",
        "resource_name",
        "message",
        "statement_index",
        "sid",
        "principal",
        "actions",
        "condition",
        "details",
    ];
    let names: std::collections::BTreeMap<&str, &str> = snapshot
        .accounts
        .iter()
        .map(|a| (a.id.as_str(), a.name.as_deref().unwrap_or("")))
        .collect();
    let rows = evaluation
        .findings
        .iter()
        .filter(|f| f.needs_attention())
        .map(|f| {
            let details = f
                .evidence
                .details
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            Row::default()
                .text(&f.rule_id)
                .text(f.severity.as_str())
                .text(f.status.as_str())
                .text(if f.muted { "true" } else { "false" })
                .text(f.mute_reason.as_deref().unwrap_or(""))
                .text(&f.account_id)
                .text(names.get(&*f.account_id).copied().unwrap_or(""))
                .text(&f.region)
                .text(f.resource_type.as_str())
                .text(&f.resource)
                .text(&f.resource_name)
                .text(&f.message)
                .opt_num(f.evidence.statement_index.map(|i| i as i64))
                .text(f.evidence.sid.as_deref().unwrap_or(""))
                .text(f.evidence.principal.as_deref().unwrap_or(""))
                .text(f.evidence.actions.join(" "))
                .text(f.evidence.condition.as_deref().unwrap_or(""))
                .text(details)
        });
    write(out, &header, rows)
}

/// The rule catalog once: texts, and one column per compliance framework (so a spreadsheet can
/// filter by framework).
pub(crate) fn rules_csv(out: &mut dyn Write, evaluation: &Evaluation) -> std::io::Result<()> {
    let frameworks: std::collections::BTreeSet<&str> = evaluation
        .rules
        .iter()
        .flat_map(|r| r.compliance.keys().map(String::as_str))
        .collect();
    let mut header = vec!["rule_id", "severity", "title", "rationale", "remediation"];
    header.extend(frameworks.iter().copied());
    let rows = evaluation.rules.iter().map(|r| {
        let row = Row::default()
            .text(&r.id)
            .text(r.severity.as_str())
            .text(&r.title)
            .text(&r.rationale)
            .text(&r.remediation);
        frameworks.iter().fold(row, |row, fw| {
            row.text(
                r.compliance
                    .get(*fw)
                    .map(|ids| ids.join(", "))
                    .unwrap_or_default(),
            )
        })
    });
    write(out, &header, rows)
}

/// The compliance matrix: one row per customer-managed key, one column per rule that applies to
/// keys, the status in each cell (`MUTED:` before the status of a muted finding). The evidence
/// that every rule was tested on every key, PASS included.
pub(crate) fn matrix_csv(
    out: &mut dyn Write,
    snapshot: &Snapshot,
    evaluation: &Evaluation,
) -> std::io::Result<()> {
    use std::collections::{BTreeSet, HashMap};
    let is_key =
        |o: &kmsaudit_model::OutcomeRef<'_>| o.resource_type == kmsaudit_model::ResourceType::Key;
    let key_rule_ids: BTreeSet<&str> = evaluation
        .outcomes()
        .filter(is_key)
        .map(|o| o.rule_id)
        .collect();
    let key_rules: Vec<&str> = evaluation
        .rules
        .iter()
        .map(|r| r.id.as_str())
        .filter(|id| key_rule_ids.contains(id))
        .collect();
    let column: HashMap<&str, usize> = key_rules.iter().enumerate().map(|(i, r)| (*r, i)).collect();
    // One byte per key × rule (0: no outcome), so the matrix of 100,000 keys costs a few MB.
    const STATUSES: [Status; 4] = [
        Status::Fail,
        Status::NotAssessed,
        Status::Pass,
        Status::NotApplicable,
    ];
    let code = |status: Status, muted: bool| -> u8 {
        let i = STATUSES
            .iter()
            .position(|s| *s == status)
            .expect("a status") as u8;
        1 + i + if muted { 4 } else { 0 }
    };
    let cell = |c: u8| -> String {
        match c {
            0 => String::new(),
            1..=4 => status_cell(STATUSES[usize::from(c - 1)], false),
            _ => status_cell(STATUSES[usize::from(c - 5)], true),
        }
    };
    let mut cells: HashMap<&str, Vec<u8>> = HashMap::new();
    for f in evaluation.outcomes().filter(is_key) {
        let Some(&i) = column.get(f.rule_id) else {
            continue;
        };
        cells
            .entry(f.resource)
            .or_insert_with(|| vec![0; key_rules.len()])[i] = code(f.status, f.muted);
    }
    let mut header = vec!["account_id", "region", "key_arn", "alias"];
    header.extend(key_rules.iter().copied());
    let rows = snapshot.keys().filter_map(|(account, region, key)| {
        let statuses = cells.get(key.arn.as_str())?;
        let row = Row::default()
            .text(&account.id)
            .text(&region.region)
            .text(&key.arn)
            .text(key.aliases.first().map(String::as_str).unwrap_or(""));
        Some(statuses.iter().fold(row, |row, &c| row.text(cell(c))))
    });
    write(out, &header, rows)
}

/// One row per grant.
pub(crate) fn grants_csv(out: &mut dyn Write, snapshot: &Snapshot) -> std::io::Result<()> {
    let header = [
        "account_id",
        "region",
        "key_arn",
        "grant_id",
        "name",
        "grantee_principal",
        "retiring_principal",
        "issuing_account",
        "operations",
        "encryption_context_subset",
        "encryption_context_equals",
        "creation_date",
    ];
    let ctx = |m: &std::collections::BTreeMap<String, String>| {
        m.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let mut rows = Vec::new();
    for (a, r, k) in snapshot.keys() {
        for g in k.grants.iter().flatten() {
            let c = g.constraints.clone().unwrap_or_default();
            rows.push(
                Row::default()
                    .text(&a.id)
                    .text(&r.region)
                    .text(&k.arn)
                    .text(&g.grant_id)
                    .text(g.name.as_deref().unwrap_or(""))
                    .text(g.grantee_principal.as_deref().unwrap_or(""))
                    .text(g.retiring_principal.as_deref().unwrap_or(""))
                    .text(g.issuing_account.as_deref().unwrap_or(""))
                    .text(g.operations.join(" "))
                    .text(ctx(&c.encryption_context_subset))
                    .text(ctx(&c.encryption_context_equals))
                    .time(g.creation_date),
            );
        }
    }
    write(out, &header, rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_triggers_are_neutralised() {
        for payload in [
            "=1+1",
            "+1",
            "-2+3",
            "@SUM(A1)",
            "\tx",
            "\rx",
            "  =HYPERLINK(\"http://x\")",
            "\n=1+1",
            "\r\n@SUM(A1)",
            "\u{a0}=1+1",
            "\u{3000}+1",
            "\u{FF1D}1+1",
            "\u{FF20}SUM(A1)",
        ] {
            assert!(neutralize(payload).starts_with('\''), "{payload:?}");
        }
        assert_eq!(neutralize("alias/app"), "alias/app");
        assert_eq!(neutralize("a\0b"), "ab");
        assert_eq!(neutralize("a\u{202e}b\u{1b}[2K"), "a\\u{202e}b\\u{1b}[2K");
        assert_eq!(neutralize(""), "");
    }

    #[test]
    fn rows_round_trip_through_a_csv_reader() {
        let mut bytes = Vec::new();
        write(
            &mut bytes,
            &["a", "b"],
            vec![Row::default().text("=cmd|' /C calc'!A0").num(-3)],
        )
        .unwrap();
        assert!(bytes.starts_with(BOM));
        let mut r = csv::Reader::from_reader(&bytes[BOM.len()..]);
        let rec = r.records().next().unwrap().unwrap();
        assert_eq!(&rec[0], "'=cmd|' /C calc'!A0");
        assert_eq!(&rec[1], "-3");
    }
}
