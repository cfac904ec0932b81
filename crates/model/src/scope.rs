//! What a scan was asked to cover: the scope, the shard of the organization, where tags come
//! from.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What the user asked the scan to cover.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ScanScope {
    /// Audit role assumed in member accounts.
    pub role_name: String,
    /// Whether an ExternalId was given to AssumeRole (the value is never recorded).
    pub external_id_used: bool,
    /// `aws`, `aws-cn`, `aws-us-gov`.
    pub partition: String,
    /// `None`: every region enabled for each account.
    pub regions: Option<Vec<String>>,
    /// Only these accounts were selected (empty: all).
    pub accounts: Vec<String>,
    /// These accounts were left out.
    pub exclude_accounts: Vec<String>,
    /// Whether IAM Access Analyzer was queried (AA-* rules run only then).
    pub access_analyzer: bool,
    /// The part of the organization this scan covered, when it was one shard of several.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<Shard>,
    /// Whether each customer managed key's last use was read (GetKeyLastUsage); the usage
    /// rules run only then.
    #[serde(default)]
    pub last_use: bool,
    /// Whether each account's monitoring was read (CloudTrail, CloudWatch Logs metric filters,
    /// alarms, SNS, EventBridge); the monitoring rules run only then.
    #[serde(default)]
    pub monitoring: bool,
    /// Where the keys' tags were read from (snapshots older than this field: per key).
    #[serde(default = "TagSource::per_key")]
    pub tags_from: TagSource,
}

/// Where a scan reads the keys' tags from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TagSource {
    /// The Resource Groups Tagging API's GetResources, one call per 100 tagged keys of an
    /// account × region (eventually consistent: a tag changed minutes before the scan may not
    /// show yet). Where it fails, that account × region falls back to ListResourceTags per key.
    #[default]
    TaggingApi,
    /// KMS ListResourceTags, one call per customer managed key (strongly consistent).
    ListResourceTags,
}

impl TagSource {
    /// Per key (ListResourceTags): what snapshots without the field used.
    pub fn per_key() -> TagSource {
        TagSource::ListResourceTags
    }
}

/// One of `count` deterministic parts of an organization's accounts (`--shard index/count`).
///
/// An account belongs to shard `id mod count + 1` (its 12-digit id read as a number): the same
/// account always lands in the same shard, whatever the order or timing of the listing, and
/// account ids spread evenly.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
pub struct Shard {
    /// 1 to `count`.
    pub index: u32,
    /// How many shards the organization is split into.
    pub count: u32,
}

impl Shard {
    /// The shard of `count` that `account_id` belongs to.
    pub fn of(account_id: &str, count: u32) -> Shard {
        let count = count.max(1);
        // Not a 12-digit id (never from Organizations): a stable hash of its bytes (FNV-1a).
        let n = account_id.parse::<u64>().unwrap_or_else(|_| {
            account_id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            })
        });
        Shard {
            index: (n % u64::from(count)) as u32 + 1,
            count,
        }
    }

    /// Whether `account_id` is in this shard.
    pub fn covers(self, account_id: &str) -> bool {
        Shard::of(account_id, self.count) == self
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl std::str::FromStr for Shard {
    type Err = String;
    /// `I/N`, 1 ≤ I ≤ N.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("`{s}`: expected I/N with 1 <= I <= N, e.g. 2/4");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count): (u32, u32) = (
            i.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if index == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

#[cfg(test)]
mod tests {
    use super::Shard;

    #[test]
    fn every_account_is_in_exactly_one_shard() {
        let accounts: Vec<String> = (0..1_000u64)
            .map(|i| format!("{:012}", 111_122_223_333 + i * 7_919))
            .chain(["not-an-id".to_string()])
            .collect();
        for count in [1, 2, 3, 4, 7] {
            let mut sizes = vec![0; count as usize];
            for a in &accounts {
                let owners: Vec<u32> = (1..=count)
                    .filter(|&i| Shard { index: i, count }.covers(a))
                    .collect();
                assert_eq!(owners.len(), 1, "{a} in {owners:?} of {count}");
                sizes[owners[0] as usize - 1] += 1;
            }
            let (min, max) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
            assert!(max - min <= accounts.len() / 20 + 1, "{count}: {sizes:?}");
        }
        assert_eq!(Shard::of("000000000005", 4), Shard { index: 2, count: 4 });
    }

    #[test]
    fn shards_parse_as_index_of_count() {
        assert_eq!("2/4".parse::<Shard>(), Ok(Shard { index: 2, count: 4 }));
        assert_eq!("2/4".parse::<Shard>().unwrap().to_string(), "2/4");
        for bad in ["0/4", "5/4", "4", "a/b", "1/0", "-1/3"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }
}
