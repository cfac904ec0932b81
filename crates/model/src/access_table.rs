//! [`AccessTable`]: effective access kept once per class of keys alike, each entry its
//! principal and its answer by number.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::{AccessEntry, AccessEntryView, AccessRow, AccessVerdict, Capability};

/// An entry as a table stores it: its principal and its answer by number (an audit's tables
/// hold tens of millions of entries, and few distinct principals and answers). In a built
/// table each principal and answer is stored once: equal entries are equal `Stored`s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Stored {
    pub(crate) principal: u32,
    pub(crate) answer: u32,
    pub(crate) capability: Capability,
}

type PrincipalName = (Arc<str>, Option<Arc<str>>);
type AnswerText = (AccessVerdict, Arc<str>, Arc<[String]>);

/// One key's access: its class's entries, overridden and extended by its own.
#[derive(Debug, Clone, PartialEq, Eq)]
struct KeyAccess {
    arn: String,
    class: Option<u32>,
    /// Sorted by (principal, capability); where one matches a class entry, it replaces it.
    own: Vec<Stored>,
}

/// Who can use or administer each key, kept once per class of keys alike: an organization's
/// keys repeat a few policies, and each key's rows would otherwise repeat them too (an AWS
/// managed key gives every principal of its account three rows). Each key is its class's
/// entries with its own (its grantees' answers) laid over them; an entry is a principal and an
/// answer by number. Reads as rows sorted by key, principal and capability; serializes as that
/// list of [`AccessRow`]s.
#[derive(Debug, Clone, Default)]
pub struct AccessTable {
    /// Sorted by ARN, each key once.
    keys: Vec<KeyAccess>,
    /// Each sorted by (principal, capability).
    classes: Vec<Vec<Stored>>,
    principals: Vec<PrincipalName>,
    answers: Vec<AnswerText>,
}

/// Builds an [`AccessTable`]: classes first, then each key with its class and its own entries.
#[derive(Debug, Default)]
pub struct AccessTableBuilder {
    table: AccessTable,
    principal_ids: std::collections::HashMap<PrincipalName, u32>,
    answer_ids: std::collections::HashMap<AnswerText, u32>,
}

impl AccessTableBuilder {
    /// Adds a class of entries; returns its id for [`AccessTableBuilder::key`].
    pub fn class(&mut self, mut entries: Vec<AccessEntry>) -> u32 {
        entries.sort_by(|a, b| a.view().order().cmp(&b.view().order()));
        let stored = entries.into_iter().map(|e| self.store(e)).collect();
        self.table.classes.push(stored);
        u32::try_from(self.table.classes.len() - 1).expect("under 4G classes")
    }

    /// Adds a key: the entries of `class` (if any) with `own` laid over them. Only the entries
    /// of `own` that differ from the class's are kept.
    pub fn key(&mut self, arn: String, class: Option<u32>, mut own: Vec<AccessEntry>) {
        own.sort_by(|a, b| a.view().order().cmp(&b.view().order()));
        if let Some(c) = class {
            let table = &self.table;
            let base = &table.classes[c as usize];
            own.retain(|e| {
                let e = e.view();
                base.binary_search_by(|b| table.view(*b).order().cmp(&e.order()))
                    .map_or(true, |i| table.view(base[i]) != e)
            });
        }
        let own = own.into_iter().map(|e| self.store(e)).collect();
        self.table.keys.push(KeyAccess { arn, class, own });
    }

    fn store(&mut self, e: AccessEntry) -> Stored {
        let number = |len: usize| u32::try_from(len).expect("under 4G principals and answers");
        let principals = &mut self.table.principals;
        let principal = *self
            .principal_ids
            .entry((e.principal, e.principal_account))
            .or_insert_with_key(|k| {
                principals.push(k.clone());
                number(principals.len() - 1)
            });
        let answers = &mut self.table.answers;
        let answer = *self
            .answer_ids
            .entry((e.verdict, e.via, e.conditions))
            .or_insert_with_key(|k| {
                answers.push(k.clone());
                number(answers.len() - 1)
            });
        Stored {
            principal,
            answer,
            capability: e.capability,
        }
    }

    /// Appends another builder's classes and keys.
    pub fn append(&mut self, other: AccessTableBuilder) {
        let t = &mut self.table;
        let offset = |n: usize| u32::try_from(n).expect("under 4G classes and entries");
        let (classes, principals, answers) = (
            offset(t.classes.len()),
            offset(t.principals.len()),
            offset(t.answers.len()),
        );
        let shift = move |s: Stored| Stored {
            principal: s.principal + principals,
            answer: s.answer + answers,
            capability: s.capability,
        };
        let other = other.table;
        t.principals.extend(other.principals);
        t.answers.extend(other.answers);
        t.classes.extend(
            (other.classes.into_iter()).map(|c| c.into_iter().map(shift).collect::<Vec<_>>()),
        );
        t.keys.extend(other.keys.into_iter().map(|k| KeyAccess {
            arn: k.arn,
            class: k.class.map(|c| c + classes),
            own: k.own.into_iter().map(shift).collect(),
        }));
    }

    /// The table, keys sorted by ARN (a key added twice is kept once), each principal and
    /// answer stored once (appended builders each stored their own).
    pub fn build(self) -> AccessTable {
        let AccessTableBuilder {
            mut table,
            principal_ids,
            answer_ids,
        } = self;
        drop((principal_ids, answer_ids));
        table.keys.sort_by(|a, b| a.arn.cmp(&b.arn));
        table
            .keys
            .dedup_by(|later, earlier| later.arn == earlier.arn);
        let principals = once_each(&mut table.principals);
        let answers = once_each(&mut table.answers);
        let renumber = |s: &mut Stored| {
            s.principal = principals[s.principal as usize];
            s.answer = answers[s.answer as usize];
        };
        for class in &mut table.classes {
            class.iter_mut().for_each(renumber);
        }
        for key in &mut table.keys {
            key.own.iter_mut().for_each(renumber);
        }
        table
    }
}

/// Keeps the first of equal items of `pool`; returns each former item's new number.
fn once_each<T: Clone + Eq + std::hash::Hash>(pool: &mut Vec<T>) -> Vec<u32> {
    let mut first: std::collections::HashMap<T, u32> = Default::default();
    let mut kept = Vec::new();
    let numbers = pool
        .drain(..)
        .map(|item| {
            let next = u32::try_from(kept.len()).expect("under 4G items");
            *first.entry(item.clone()).or_insert_with(|| {
                kept.push(item);
                next
            })
        })
        .collect();
    kept.shrink_to_fit();
    *pool = kept;
    numbers
}

impl PartialEq for AccessTable {
    /// The same rows, however they are stored.
    fn eq(&self, other: &AccessTable) -> bool {
        self.rows().eq(other.rows())
    }
}

impl Eq for AccessTable {}

impl AccessTable {
    /// How many distinct principals the table stores ([`Stored`] numbers them from 0).
    pub(crate) fn principal_count(&self) -> usize {
        self.principals.len()
    }

    pub(crate) fn view(&self, s: Stored) -> AccessEntryView<'_> {
        let (principal, account) = &self.principals[s.principal as usize];
        let (verdict, via, conditions) = &self.answers[s.answer as usize];
        AccessEntryView {
            principal,
            principal_account: account.as_deref(),
            capability: s.capability,
            verdict: *verdict,
            via,
            conditions,
        }
    }

    /// How much the table stores: `(classes, entries of classes, keys, keys' own entries)`.
    pub fn stored(&self) -> (usize, usize, usize, usize) {
        (
            self.classes.len(),
            self.classes.iter().map(Vec::len).sum(),
            self.keys.len(),
            self.keys.iter().map(|k| k.own.len()).sum(),
        )
    }

    /// A table of these rows, each key its own class (tests, and rows read back from a file).
    pub fn from_rows(rows: impl IntoIterator<Item = AccessRow>) -> AccessTable {
        let mut by_key: std::collections::BTreeMap<String, Vec<AccessEntry>> = Default::default();
        for mut r in rows {
            let arn = std::mem::take(&mut r.key_arn);
            by_key.entry(arn).or_default().push(r.into());
        }
        let mut b = AccessTableBuilder::default();
        for (arn, entries) in by_key {
            b.key(arn, None, entries);
        }
        b.build()
    }

    /// The keys with access entries, sorted.
    pub fn keys(&self) -> impl Iterator<Item = &str> + '_ {
        self.keys.iter().map(|k| k.arn.as_str())
    }

    /// The ARN of the key at `position` (keys are sorted by ARN).
    pub fn key_arn(&self, position: usize) -> Option<&str> {
        self.keys.get(position).map(|k| k.arn.as_str())
    }

    /// [`AccessTable::rows`], each with its key's position (see [`AccessTable::key_arn`]).
    pub fn numbered_rows(&self) -> impl Iterator<Item = (usize, &str, AccessEntryView<'_>)> + '_ {
        self.keys
            .iter()
            .enumerate()
            .flat_map(move |(i, k)| self.entries(k).map(move |e| (i, k.arn.as_str(), e)))
    }

    /// The entries of one key, sorted by principal and capability (none: nobody can).
    pub fn of(&self, key_arn: &str) -> Vec<AccessEntryView<'_>> {
        match self.keys.binary_search_by(|k| k.arn.as_str().cmp(key_arn)) {
            Ok(i) => self.entries(&self.keys[i]).collect(),
            Err(_) => vec![],
        }
    }

    fn entries<'t>(&'t self, key: &'t KeyAccess) -> impl Iterator<Item = AccessEntryView<'t>> + 't {
        self.numbered_stored(key, 0, 0).map(|(_, s)| self.view(s))
    }

    /// A key's stored entries, each with its number: `class_first` is the number of its
    /// class's first entry, `own_first` that of its own first entry.
    fn numbered_stored<'t>(
        &'t self,
        key: &'t KeyAccess,
        class_first: u32,
        own_first: u32,
    ) -> impl Iterator<Item = (u32, Stored)> + 't {
        let base: &[Stored] = key
            .class
            .and_then(|c| self.classes.get(c as usize))
            .map_or(&[], Vec::as_slice);
        let number = move |first: u32| move |(i, s): (usize, &Stored)| (first + i as u32, *s);
        Merge {
            table: self,
            base: base.iter().enumerate().map(number(class_first)).peekable(),
            own: key.own.iter().enumerate().map(number(own_first)).peekable(),
        }
    }

    /// Each row as (key position, key ARN, entry number, entry) with its number below
    /// [`AccessTable::stored_entries`]: an entry keys alike share has one number, so what is
    /// worked out per entry can be kept in a vector rather than a map.
    pub(crate) fn rows_with_entry_numbers(
        &self,
    ) -> impl Iterator<Item = (usize, &str, u32, Stored)> + '_ {
        let mut class_first = Vec::with_capacity(self.classes.len());
        let mut next = 0u32;
        for c in &self.classes {
            class_first.push(next);
            next += u32::try_from(c.len()).expect("under 4G entries");
        }
        let mut own_first = next;
        self.keys.iter().enumerate().flat_map(move |(i, k)| {
            let first = k.class.map_or(0, |c| class_first[c as usize]);
            let own = own_first;
            own_first += u32::try_from(k.own.len()).expect("under 4G entries");
            self.numbered_stored(k, first, own)
                .map(move |(n, s)| (i, k.arn.as_str(), n, s))
        })
    }

    /// Every (key ARN, entry), sorted by key, principal and capability.
    pub fn rows(&self) -> impl Iterator<Item = (&str, AccessEntryView<'_>)> + '_ {
        self.keys
            .iter()
            .flat_map(move |k| self.entries(k).map(move |e| (k.arn.as_str(), e)))
    }

    /// How many entries are stored: the classes' and the keys' own (what memory holds, against
    /// [`AccessTable::row_count`], what is read back).
    pub fn stored_entries(&self) -> usize {
        let (_, class_entries, _, own_entries) = self.stored();
        class_entries + own_entries
    }

    /// How many rows [`AccessTable::rows`] gives.
    pub fn row_count(&self) -> usize {
        self.keys.iter().map(|k| self.entries(k).count()).sum()
    }

    /// Every row, owned.
    pub fn to_rows(&self) -> Vec<AccessRow> {
        self.rows().map(|(k, e)| e.row(k)).collect()
    }
}

/// Two sorted lists of numbered entries merged; on the same (principal, capability), `own`
/// wins.
struct Merge<'t, B: Iterator, O: Iterator> {
    table: &'t AccessTable,
    base: std::iter::Peekable<B>,
    own: std::iter::Peekable<O>,
}

type Numbered = (u32, Stored);

impl<B: Iterator<Item = Numbered>, O: Iterator<Item = Numbered>> Iterator for Merge<'_, B, O> {
    type Item = Numbered;

    fn next(&mut self) -> Option<Numbered> {
        let table = self.table;
        let order = |s: Stored| (&*table.principals[s.principal as usize].0, s.capability);
        match (self.base.peek(), self.own.peek()) {
            (Some(b), Some(o)) => match order(b.1).cmp(&order(o.1)) {
                std::cmp::Ordering::Less => self.base.next(),
                std::cmp::Ordering::Equal => {
                    self.base.next();
                    self.own.next()
                }
                std::cmp::Ordering::Greater => self.own.next(),
            },
            (Some(_), None) => self.base.next(),
            (None, _) => self.own.next(),
        }
    }
}

impl Serialize for AccessTable {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.rows().map(|(k, e)| e.row(k)))
    }
}

impl<'de> Deserialize<'de> for AccessTable {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<AccessTable, D::Error> {
        Vec::<AccessRow>::deserialize(d).map(AccessTable::from_rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::effective::tests::entry;

    #[test]
    fn keys_read_their_class_with_their_own_entries_laid_over() {
        let mut b = AccessTableBuilder::default();
        let class = b.class(vec![
            entry("b", Capability::Decrypt, "policy"),
            entry("a", Capability::Encrypt, "policy"),
            entry("a", Capability::Decrypt, "policy"),
        ]);
        b.key("k2".into(), Some(class), vec![]);
        b.key(
            "k1".into(),
            Some(class),
            vec![
                // The same as the class's: not kept.
                entry("a", Capability::Decrypt, "policy"),
                // Replaces the class's answer.
                entry("b", Capability::Decrypt, "grant g1"),
                // New.
                entry("c", Capability::Grant, "grant g1"),
            ],
        );
        let table = b.build();
        assert_eq!(table.keys().collect::<Vec<_>>(), ["k1", "k2"]);
        assert_eq!(table.keys[0].own.len(), 2);
        let rows: Vec<(&str, &str, Capability, &str)> = table
            .rows()
            .map(|(k, e)| (k, e.principal, e.capability, e.via))
            .collect();
        assert_eq!(
            rows,
            [
                ("k1", "a", Capability::Decrypt, "policy"),
                ("k1", "a", Capability::Encrypt, "policy"),
                ("k1", "b", Capability::Decrypt, "grant g1"),
                ("k1", "c", Capability::Grant, "grant g1"),
                ("k2", "a", Capability::Decrypt, "policy"),
                ("k2", "a", Capability::Encrypt, "policy"),
                ("k2", "b", Capability::Decrypt, "policy"),
            ]
        );
        assert_eq!(table.row_count(), 7);
        // One number per stored entry: the class's are shared by both keys, k1's own are k1's.
        let numbers: Vec<(usize, u32)> = table
            .rows_with_entry_numbers()
            .map(|(k, _, n, _)| (k, n))
            .collect();
        assert_eq!(table.stored_entries(), 5);
        assert_eq!(
            numbers,
            [(0, 0), (0, 1), (0, 3), (0, 4), (1, 0), (1, 1), (1, 2)]
        );
        assert_eq!(table.of("k2").len(), 3);
        assert!(table.of("k3").is_empty());
        // Serialized as rows, and read back to the same rows.
        let json = serde_json::to_string(&table).unwrap();
        let back: AccessTable = serde_json::from_str(&json).unwrap();
        assert_eq!(back.to_rows(), table.to_rows());
    }
}
