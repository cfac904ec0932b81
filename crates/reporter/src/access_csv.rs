//! access.csv: who can use or administer each key, one row per (key, principal, capability)
//! that is allowed, conditional or not assessed. Written when the scan read IAM.

use std::io::Write;

use kmsaudit_model::{AccessEntryView, AccessTable};
use rustc_hash::FxHashMap;

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

/// Keys alike share their entries (see `AccessTable`): each shared entry's cells are encoded
/// once and copied after each key's own cell. Keys come sorted by ARN, so a class's keys (one
/// account and region) come together: the encodings are dropped when the account and region
/// change, holding only theirs.
pub(crate) fn access_csv(out: &mut dyn Write, table: Option<&AccessTable>) -> std::io::Result<()> {
    write(out, &ACCESS_HEADER, std::iter::empty())?;
    let Some(table) = table else {
        return Ok(());
    };
    let mut encoder = Encoder::default();
    let mut encoded: FxHashMap<SameText, Vec<u8>> = FxHashMap::default();
    let mut scope = "";
    let mut key_cell: (&str, Vec<u8>) = ("", vec![]);
    let mut buf = Vec::with_capacity(1 << 20);
    for (key, entry) in table.rows() {
        if key != key_cell.0 {
            let prefix = key.rsplit_once(':').map_or(key, |(p, _)| p);
            if prefix != scope {
                encoded.clear();
                scope = prefix;
            }
            key_cell = (key, encoder.record(Row::default().text(key).cells()));
        }
        let rest = encoded
            .entry(SameText::of(&entry))
            .or_insert_with(|| encoder.record(entry_cells(&entry).cells()));
        buf.extend_from_slice(&key_cell.1);
        buf.push(b',');
        buf.extend_from_slice(rest);
        buf.extend_from_slice(b"\r\n");
        if buf.len() >= 1 << 20 {
            out.write_all(&buf)?;
            buf.clear();
        }
    }
    out.write_all(&buf)
}

/// An entry by where its text is: a table stores each principal and answer once, so entries
/// with the same text have it in the same place.
#[derive(PartialEq, Eq, Hash)]
struct SameText {
    text: [*const u8; 4],
    capability: kmsaudit_model::Capability,
    verdict: kmsaudit_model::AccessVerdict,
}

impl SameText {
    fn of(e: &AccessEntryView) -> SameText {
        SameText {
            text: [
                e.principal.as_ptr(),
                e.principal_account.map_or(std::ptr::null(), str::as_ptr),
                e.via.as_ptr(),
                e.conditions.as_ptr().cast(),
            ],
            capability: e.capability,
            verdict: e.verdict,
        }
    }
}

/// An entry's cells after the key's.
fn entry_cells(r: &AccessEntryView) -> Row {
    Row::default()
        .text(r.principal)
        .text(r.principal_account.unwrap_or(""))
        .text(r.capability.as_str())
        .text(r.verdict.as_str())
        .text(r.via)
        .text(r.conditions.join("; "))
}

/// Encodes cells as one CSV record without its terminator.
struct Encoder(csv::WriterBuilder);

impl Default for Encoder {
    fn default() -> Encoder {
        let mut builder = csv::WriterBuilder::new();
        builder.terminator(csv::Terminator::Any(b'\n'));
        Encoder(builder)
    }
}

impl Encoder {
    fn record(&mut self, cells: &[String]) -> Vec<u8> {
        // The writer's buffer sized to the record (its default is 8 KiB, for millions of them).
        let size = cells.iter().map(|c| c.len() + 3).sum::<usize>() + 1;
        let mut w = self
            .0
            .buffer_capacity(size)
            .from_writer(Vec::with_capacity(size));
        // Writing to memory cannot fail.
        w.write_record(cells).expect("a CSV record in memory");
        let mut bytes = w.into_inner().expect("a CSV record in memory");
        bytes.pop();
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kmsaudit_model::{AccessRow, AccessTableBuilder, AccessVerdict, Capability};

    /// The rows as the CSV writer writes them one by one: what the encodings must equal.
    fn written_whole(table: &AccessTable) -> Vec<u8> {
        let rows = table.rows().map(|(key, r)| {
            Row::default()
                .text(key)
                .text(r.principal)
                .text(r.principal_account.unwrap_or(""))
                .text(r.capability.as_str())
                .text(r.verdict.as_str())
                .text(r.via)
                .text(r.conditions.join("; "))
        });
        let mut out = vec![];
        write(&mut out, &ACCESS_HEADER, rows).unwrap();
        out
    }

    #[test]
    fn rows_encoded_in_parts_equal_rows_written_whole() {
        let row = |key: &str, principal: &str, via: &str, conditions: &[&str]| AccessRow {
            key_arn: key.into(),
            principal: principal.into(),
            principal_account: Some("111111111111".into()),
            capability: Capability::Decrypt,
            verdict: if conditions.is_empty() {
                AccessVerdict::Allowed
            } else {
                AccessVerdict::Conditional
            },
            via: via.into(),
            conditions: conditions.iter().map(|c| c.to_string()).collect(),
        };
        let rows = vec![
            row(
                "arn:aws:kms:us-east-1:111111111111:key/a",
                "arn:aws:iam::111111111111:role/A",
                "key policy Sid \"x, y\"",
                &[],
            ),
            row(
                "arn:aws:kms:us-east-1:111111111111:key/a",
                "*",
                "=cmd|' /C calc'!A0",
                &["kms:ViaService = s3", "line\nbreak"],
            ),
            row(
                "arn:aws:kms:eu-west-1:111111111111:key/\"q\",c",
                "@evil",
                "+1",
                &["-2"],
            ),
            row(
                "=HYPERLINK(\"x\")",
                "arn:aws:iam::111111111111:role/A",
                "",
                &[],
            ),
        ];
        // Keys a and b share a class: their entries are encoded once.
        let mut b = AccessTableBuilder::default();
        let mut rows = rows.into_iter();
        let shared: Vec<kmsaudit_model::AccessEntry> =
            rows.by_ref().take(2).map(Into::into).collect();
        let class = b.class(shared);
        b.key(
            "arn:aws:kms:us-east-1:111111111111:key/a".into(),
            Some(class),
            vec![],
        );
        b.key(
            "arn:aws:kms:us-east-1:111111111111:key/b".into(),
            Some(class),
            vec![],
        );
        for r in rows {
            b.key(r.key_arn.clone(), None, vec![r.into()]);
        }
        let table = b.build();
        assert_eq!(table.row_count(), 6);
        let mut out = vec![];
        access_csv(&mut out, Some(&table)).unwrap();
        let expected = written_whole(&table);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            String::from_utf8(expected).unwrap()
        );
    }
}
