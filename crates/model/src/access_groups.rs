//! findings.json's `access`: who can use or administer each key, grouped by identical answer.
//!
//! Written from an evaluation's [`AccessTable`] without a group object per answer: at 1,000
//! accounts the table gives 34 million rows in millions of groups, and each group is only its
//! answer (an entry of the table, borrowed) and a run of one array of key indices. Read back
//! from a file, each distinct text is held once and a group is numbers (`ReadGroups`).

use std::borrow::Cow;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::access_table::Stored;
use crate::{AccessEntryView, AccessTable, AccessVerdict, Capability};

/// One principal's capability, the same answer by the same path, on the keys listed: the
/// default key policy of an account gives one group per principal, not one row per key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AccessGroup<'a> {
    /// An IAM ARN, an account root ARN, a service principal, or `*`.
    pub principal: Cow<'a, str>,
    /// The principal's account, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal_account: Option<Cow<'a, str>>,
    /// What it can do.
    pub capability: Capability,
    /// Whether it can.
    pub verdict: AccessVerdict,
    /// The path: key policy statement, IAM policy and statement, grant id, assumed roles.
    pub via: Cow<'a, str>,
    /// The conditions left open (conditional), or why it was not assessed.
    #[serde(default, skip_serializing_if = "<[String]>::is_empty")]
    pub conditions: Cow<'a, [String]>,
    /// The keys: indices into `resources`, ascending.
    pub keys: Cow<'a, [u32]>,
}

/// Every access group of a document, in first-seen order (see [`AccessGroups::iter`]).
#[derive(Debug, Clone)]
pub struct AccessGroups<'a>(Groups<'a>);

#[derive(Debug, Clone)]
enum Groups<'a> {
    /// As read from a file or built from a list: each distinct text and condition list held
    /// once.
    Read(ReadGroups),
    /// Group `g` is `answers[g]` (an entry of `table`) on `keys[starts[g]..starts[g + 1]]`.
    Compact {
        table: &'a AccessTable,
        answers: Vec<Stored>,
        starts: Vec<u32>,
        keys: Vec<u32>,
    },
}

/// Groups read from a file. Millions of groups name a few thousand principals and paths: each
/// text is stored once and a group holds numbers (a baseline's groups would otherwise cost
/// gigabytes of repeated text). Numbers into pools rather than [`crate::Interner`]'s shared
/// `Arc`s: 24 bytes a group instead of 72.
#[derive(Debug, Clone, Default)]
struct ReadGroups {
    texts: Vec<Box<str>>,
    condition_lists: Vec<Box<[String]>>,
    groups: Vec<ReadGroup>,
    /// Group `g`'s keys are `keys[starts[g]..starts[g + 1]]`.
    starts: Vec<u32>,
    keys: Vec<u32>,
}

#[derive(Debug, Clone, Copy)]
struct ReadGroup {
    principal: u32,
    /// `u32::MAX` for none.
    principal_account: u32,
    via: u32,
    conditions: u32,
    capability: Capability,
    verdict: AccessVerdict,
}

/// Builds [`ReadGroups`] one group at a time.
#[derive(Default)]
struct ReadGroupsBuilder {
    read: ReadGroups,
    text_numbers: std::collections::HashMap<Box<str>, u32>,
    list_numbers: std::collections::HashMap<Box<[String]>, u32>,
}

impl ReadGroupsBuilder {
    fn text(&mut self, text: &str) -> u32 {
        if let Some(&n) = self.text_numbers.get(text) {
            return n;
        }
        let n = u32::try_from(self.read.texts.len()).expect("under 4G texts");
        self.read.texts.push(text.into());
        self.text_numbers.insert(text.into(), n);
        n
    }

    /// Fails past 4G keys in all, which no file this tool writes holds.
    fn push(&mut self, group: AccessGroup<'_>) -> Result<(), &'static str> {
        let conditions = match self.list_numbers.get(&*group.conditions) {
            Some(&n) => n,
            None => {
                let n = u32::try_from(self.read.condition_lists.len()).expect("under 4G lists");
                let list: Box<[String]> = group.conditions.iter().cloned().collect();
                self.read.condition_lists.push(list.clone());
                self.list_numbers.insert(list, n);
                n
            }
        };
        let read = ReadGroup {
            principal: self.text(&group.principal),
            principal_account: group
                .principal_account
                .as_deref()
                .map_or(u32::MAX, |a| self.text(a)),
            via: self.text(&group.via),
            conditions,
            capability: group.capability,
            verdict: group.verdict,
        };
        if self.read.starts.is_empty() {
            self.read.starts.push(0);
        }
        self.read.groups.push(read);
        self.read.keys.extend_from_slice(&group.keys);
        let end = u32::try_from(self.read.keys.len()).map_err(|_| "more than 4G access rows")?;
        self.read.starts.push(end);
        Ok(())
    }

    fn finish(mut self) -> ReadGroups {
        if self.read.starts.is_empty() {
            self.read.starts.push(0);
        }
        self.read.texts.shrink_to_fit();
        self.read.groups.shrink_to_fit();
        self.read.keys.shrink_to_fit();
        self.read
    }
}

impl ReadGroups {
    fn get(&self, i: usize) -> Option<AccessGroupView<'_>> {
        let g = self.groups.get(i)?;
        let text = |n: u32| &*self.texts[n as usize];
        Some(AccessGroupView {
            answer: AccessEntryView {
                principal: text(g.principal),
                principal_account: (g.principal_account != u32::MAX)
                    .then(|| text(g.principal_account)),
                capability: g.capability,
                verdict: g.verdict,
                via: text(g.via),
                conditions: &self.condition_lists[g.conditions as usize],
            },
            keys: &self.keys[self.starts[i] as usize..self.starts[i + 1] as usize],
        })
    }
}

/// Finds an entry's group. Equal entries are equal `Stored`s in a built table; groups are
/// listed per principal and capability (a principal has few answers per capability), a list
/// longer than [`GroupIndex::LISTED`] going on in a map: far less memory than a map of every
/// group (millions at organization scale).
struct GroupIndex {
    /// The last group of each (principal, capability), `u32::MAX` for none.
    heads: Vec<u32>,
    /// The group listed before each group, `u32::MAX` for none.
    next: Vec<u32>,
    /// How many groups each list holds (at most `LISTED`).
    listed: Vec<u8>,
    more: std::collections::HashMap<Stored, u32>,
}

impl GroupIndex {
    const LISTED: u8 = 32;

    fn new(principals: usize) -> GroupIndex {
        let slots = principals * Capability::ALL.len();
        GroupIndex {
            heads: vec![u32::MAX; slots],
            next: Vec::new(),
            listed: vec![0; slots],
            more: Default::default(),
        }
    }

    /// The group of `entry`, added to `answers` when it is new.
    fn group(&mut self, entry: Stored, answers: &mut Vec<Stored>) -> u32 {
        let slot = entry.principal as usize * Capability::ALL.len() + entry.capability as usize;
        let mut at = self.heads[slot];
        while at != u32::MAX {
            if answers[at as usize] == entry {
                return at;
            }
            at = self.next[at as usize];
        }
        let new = u32::try_from(answers.len()).expect("under 4G groups");
        if self.listed[slot] < Self::LISTED {
            self.listed[slot] += 1;
            self.next.push(self.heads[slot]);
            self.heads[slot] = new;
        } else {
            match self.more.entry(entry) {
                std::collections::hash_map::Entry::Occupied(o) => return *o.get(),
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(new);
                }
            }
            self.next.push(u32::MAX);
        }
        answers.push(entry);
        new
    }
}

impl<'a> AccessGroups<'a> {
    /// The groups of `table`'s rows; `key_index` gives each key's index into `resources`
    /// (increasing with the key's ARN, as the table's rows come).
    pub(crate) fn of_table(table: &'a AccessTable, key_index: impl Fn(&str) -> u32) -> Self {
        // Each stored entry's group, found by its answer the first time the entry is seen.
        let mut group_of = vec![u32::MAX; table.stored_entries()];
        let mut index = GroupIndex::new(table.principal_count());
        let mut answers: Vec<Stored> = Vec::new();
        let mut sizes: Vec<u32> = Vec::new();
        for (_, _, number, entry) in table.rows_with_entry_numbers() {
            let group = &mut group_of[number as usize];
            if *group == u32::MAX {
                *group = index.group(entry, &mut answers);
                if *group as usize == sizes.len() {
                    sizes.push(0);
                }
            }
            sizes[*group as usize] += 1;
        }
        drop(index);
        // Grown by doubling: its slack would sit beside the key indices allocated next.
        answers.shrink_to_fit();
        let mut starts = Vec::with_capacity(sizes.len() + 1);
        let mut total = 0u32;
        for size in &sizes {
            starts.push(total);
            total = total.checked_add(*size).expect("under 4G access rows");
        }
        starts.push(total);
        drop(sizes);
        // Each group's keys, filled in row order: ascending, as the rows come key by key. Each
        // group's start is its fill cursor, which ends at the next group's start.
        let mut keys = vec![0u32; total as usize];
        let mut current = (usize::MAX, 0u32);
        for (position, arn, number, _) in table.rows_with_entry_numbers() {
            if position != current.0 {
                current = (position, key_index(arn));
            }
            let slot = &mut starts[group_of[number as usize] as usize];
            keys[*slot as usize] = current.1;
            *slot += 1;
        }
        drop(group_of);
        starts.pop();
        starts.insert(0, 0);
        let mut compact = Groups::Compact {
            table,
            answers,
            starts,
            keys,
        };
        compact.sort_runs();
        AccessGroups(compact)
    }

    /// How many groups.
    pub fn len(&self) -> usize {
        match &self.0 {
            Groups::Read(read) => read.groups.len(),
            Groups::Compact { answers, .. } => answers.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Group `i` (in [`AccessGroups::iter`]'s order).
    pub fn get(&self, i: usize) -> Option<AccessGroupView<'_>> {
        match &self.0 {
            Groups::Read(read) => read.get(i),
            Groups::Compact {
                table,
                answers,
                starts,
                keys,
            } => answers.get(i).map(|s| AccessGroupView {
                answer: table.view(*s),
                keys: &keys[starts[i] as usize..starts[i + 1] as usize],
            }),
        }
    }

    /// Every group, in order.
    pub fn iter(&self) -> impl Iterator<Item = AccessGroupView<'_>> + '_ {
        (0..self.len()).map_while(|i| self.get(i))
    }
}

/// An [`AccessGroup`] borrowed from [`AccessGroups`]: its answer and its keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessGroupView<'d> {
    /// The principal, capability, verdict, path and conditions the group's keys share.
    pub answer: AccessEntryView<'d>,
    /// As [`AccessGroup::keys`].
    pub keys: &'d [u32],
}

impl<'d> From<AccessGroupView<'d>> for AccessGroup<'d> {
    fn from(AccessGroupView { answer: a, keys }: AccessGroupView<'d>) -> Self {
        AccessGroup {
            principal: Cow::Borrowed(a.principal),
            principal_account: a.principal_account.map(Cow::Borrowed),
            capability: a.capability,
            verdict: a.verdict,
            via: Cow::Borrowed(a.via),
            conditions: Cow::Borrowed(a.conditions),
            keys: Cow::Borrowed(keys),
        }
    }
}

impl Groups<'_> {
    /// Each group's keys ascending and each once (rows come key by key, so they already are
    /// unless a table held one key's answer twice).
    fn sort_runs(&mut self) {
        let Groups::Compact { starts, keys, .. } = self else {
            return;
        };
        let mut write = 0usize;
        let mut read_start = 0usize;
        for g in 0..starts.len() - 1 {
            let read_end = starts[g + 1] as usize;
            keys[read_start..read_end].sort_unstable();
            starts[g] = write as u32;
            let mut last = None;
            for i in read_start..read_end {
                if last != Some(keys[i]) {
                    last = Some(keys[i]);
                    keys[write] = keys[i];
                    write += 1;
                }
            }
            read_start = read_end;
        }
        *starts.last_mut().expect("one start per group and an end") = write as u32;
        keys.truncate(write);
        keys.shrink_to_fit();
    }
}

impl<'a> From<Vec<AccessGroup<'a>>> for AccessGroups<'a> {
    fn from(list: Vec<AccessGroup<'a>>) -> Self {
        let mut builder = ReadGroupsBuilder::default();
        for group in list {
            builder.push(group).expect("under 4G access rows");
        }
        AccessGroups(Groups::Read(builder.finish()))
    }
}

impl PartialEq for AccessGroups<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for AccessGroups<'_> {}

impl Serialize for AccessGroups<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter().map(AccessGroup::from))
    }
}

impl<'de> Deserialize<'de> for AccessGroups<'_> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = ReadGroups;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a list of access groups")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<ReadGroups, A::Error> {
                let mut builder = ReadGroupsBuilder::default();
                while let Some(group) = seq.next_element::<AccessGroup>()? {
                    builder.push(group).map_err(serde::de::Error::custom)?;
                }
                Ok(builder.finish())
            }
        }
        d.deserialize_seq(Visit)
            .map(|read| AccessGroups(Groups::Read(read)))
    }
}

/// Written and read as a list of [`AccessGroup`]s: the same schema.
impl JsonSchema for AccessGroups<'_> {
    fn inline_schema() -> bool {
        <Vec<AccessGroup<'static>>>::inline_schema()
    }

    fn schema_name() -> Cow<'static, str> {
        <Vec<AccessGroup<'static>>>::schema_name()
    }

    fn schema_id() -> Cow<'static, str> {
        <Vec<AccessGroup<'static>>>::schema_id()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        <Vec<AccessGroup<'static>>>::json_schema(generator)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::effective::tests::entry;
    use crate::AccessTableBuilder;

    #[test]
    fn groups_hold_every_row_once_under_its_answer() {
        // Two classes with an answer in common, keys with their own answers laid over them.
        let mut b = AccessTableBuilder::default();
        let shared = || entry("role/Admin", Capability::Decrypt, "key policy");
        let c1 = b.class(vec![
            shared(),
            entry("role/App", Capability::Encrypt, "key policy"),
        ]);
        let c2 = b.class(vec![shared()]);
        b.key("k3".into(), Some(c2), vec![]);
        b.key(
            "k1".into(),
            Some(c1),
            vec![entry("role/App", Capability::Encrypt, "grant g1")],
        );
        b.key("k2".into(), Some(c1), vec![]);
        b.key(
            "k4".into(),
            None,
            vec![entry("role/App", Capability::Encrypt, "grant g1")],
        );
        let table = b.build();
        // Resources as findings.json numbers them: something before the keys.
        let index = |arn: &str| 10 + arn[1..].parse::<u32>().unwrap();
        let groups = AccessGroups::of_table(&table, index);

        let mut expected: BTreeMap<(String, Capability, String), Vec<u32>> = BTreeMap::new();
        for (arn, e) in table.rows() {
            let answer = (e.principal.to_string(), e.capability, e.via.to_string());
            expected.entry(answer).or_default().push(index(arn));
        }
        let got: BTreeMap<(String, Capability, String), Vec<u32>> = groups
            .iter()
            .map(|g| {
                let answer = (
                    g.answer.principal.to_string(),
                    g.answer.capability,
                    g.answer.via.to_string(),
                );
                (answer, g.keys.to_vec())
            })
            .collect();
        assert_eq!(groups.len(), 3, "one group per answer: {groups:#?}");
        assert_eq!(got, expected);
        assert_eq!(
            got[&(
                "role/Admin".into(),
                Capability::Decrypt,
                "key policy".into()
            )],
            [11, 12, 13]
        );
        assert_eq!(
            got[&("role/App".into(), Capability::Encrypt, "grant g1".into())],
            [11, 14]
        );

        // Written as a list and read back as one: the same groups.
        let text = serde_json::to_string(&groups).unwrap();
        let back: AccessGroups<'_> = serde_json::from_str(&text).unwrap();
        assert_eq!(back, groups);
        assert_eq!(serde_json::to_string(&back).unwrap(), text);
    }

    #[test]
    fn a_principal_with_many_answers_gets_one_group_per_answer() {
        // More answers for one principal and capability than a list holds: the rest are
        // found in the map, each still once.
        let mut b = AccessTableBuilder::default();
        for i in 0..80u32 {
            let via = format!("grant g{}", i % 50);
            b.key(
                format!("k{i:02}"),
                None,
                vec![entry("role/A", Capability::Decrypt, &via)],
            );
        }
        let table = b.build();
        let groups = AccessGroups::of_table(&table, |arn| arn[1..].parse().unwrap());
        assert_eq!(groups.len(), 50);
        for g in groups.iter() {
            let n: u32 = g.answer.via["grant g".len()..].parse().unwrap();
            let expected: Vec<u32> = [n, n + 50].into_iter().filter(|k| *k < 80).collect();
            assert_eq!(g.keys, expected, "{}", g.answer.via);
        }
    }

    #[test]
    fn a_run_is_sorted_and_each_key_kept_once() {
        let mut b = AccessTableBuilder::default();
        b.key(
            "k".into(),
            None,
            vec![entry("role/A", Capability::Decrypt, "p")],
        );
        let table = b.build();
        let e = table.rows_with_entry_numbers().next().unwrap().3;
        let mut groups = Groups::Compact {
            table: &table,
            answers: vec![e, e, e],
            starts: vec![0, 3, 3, 6],
            keys: vec![5, 1, 5, 2, 2, 0],
        };
        groups.sort_runs();
        let Groups::Compact { starts, keys, .. } = groups else {
            unreachable!()
        };
        assert_eq!(keys, [1, 5, 0, 2]);
        assert_eq!(starts, [0, 2, 2, 4]);
    }

    #[test]
    fn groups_read_back_equal_those_written_and_hold_each_text_once() {
        let mut b = AccessTableBuilder::default();
        let class = b.class(vec![
            entry("role/Admin", Capability::Decrypt, "key policy"),
            entry("role/Admin", Capability::Policy, "key policy"),
            entry("role/App", Capability::Encrypt, "key policy"),
        ]);
        for k in 1..=3 {
            b.key(
                format!("k{k}"),
                Some(class),
                vec![entry(
                    "role/App",
                    Capability::Decrypt,
                    &format!("grant g{k}"),
                )],
            );
        }
        let table = b.build();
        let written = AccessGroups::of_table(&table, |arn| arn[1..].parse().unwrap());
        let text = serde_json::to_string(&written).unwrap();
        let read: AccessGroups = serde_json::from_str(&text).unwrap();
        assert_eq!(read, written);
        assert_eq!(read.len(), 6);
        let Groups::Read(pools) = &read.0 else {
            panic!("read groups are pooled")
        };
        // role/Admin, role/App, "key policy", three grants.
        assert_eq!(pools.texts.len(), 6, "{:?}", pools.texts);
        assert_eq!(pools.condition_lists.len(), 1);
        let empty: AccessGroups = serde_json::from_str("[]").unwrap();
        assert!(empty.is_empty() && empty.get(0).is_none());
    }
}
