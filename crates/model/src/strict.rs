//! What a snapshot must be besides well-formed JSON: maps without repeated keys, each account,
//! region and key once, and no impossible values. A snapshot is evidence: one that counts a key
//! twice, or a map whose second entry silently wins, is refused with the field named.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use crate::Snapshot;

/// Deserializes a map, refusing a key that appears twice (serde_json keeps the last).
pub(crate) fn unique_map<'de, D, V>(deserializer: D) -> Result<BTreeMap<String, V>, D::Error>
where
    D: Deserializer<'de>,
    V: Deserialize<'de>,
{
    struct Unique<V>(std::marker::PhantomData<V>);
    impl<'de, V: Deserialize<'de>> Visitor<'de> for Unique<V> {
        type Value = BTreeMap<String, V>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a map with each key once")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            while let Some((key, value)) = map.next_entry::<String, V>()? {
                if out.contains_key(&key) {
                    return Err(serde::de::Error::custom(format!(
                        "the key `{}` appears twice",
                        crate::for_terminal(&key)
                    )));
                }
                out.insert(key, value);
            }
            Ok(out)
        }
    }
    deserializer.deserialize_map(Unique(std::marker::PhantomData))
}

impl Snapshot {
    /// Checks what JSON alone cannot: each account once, each region once per account, each key
    /// once per region, no negative period or window. Call after [`Snapshot::normalize`]; the
    /// error names the field (`accounts[3].regions[0].keys`).
    pub fn check_consistency(&self) -> Result<(), String> {
        let twice = |field: String, what: &str, id: &str| {
            Err(format!(
                "{field}: {what} `{}` appears twice",
                crate::for_terminal(id)
            ))
        };
        for (i, pair) in self.accounts.windows(2).enumerate() {
            if pair[0].id == pair[1].id {
                return twice(format!("accounts[{}]", i + 1), "account", &pair[0].id);
            }
        }
        for (a, account) in self.accounts.iter().enumerate() {
            for (i, pair) in account.regions.windows(2).enumerate() {
                if pair[0].region == pair[1].region {
                    return twice(
                        format!("accounts[{a}].regions[{}]", i + 1),
                        "region",
                        &pair[0].region,
                    );
                }
            }
            for (r, region) in account.regions.iter().enumerate() {
                for (i, pair) in region.keys.windows(2).enumerate() {
                    if pair[0].arn == pair[1].arn {
                        return twice(
                            format!("accounts[{a}].regions[{r}].keys[{}]", i + 1),
                            "key",
                            &pair[0].arn,
                        );
                    }
                }
                for (k, key) in region.keys.iter().enumerate() {
                    let at = format!("accounts[{a}].regions[{r}].keys[{k}]");
                    if let Some(days) = key
                        .metadata
                        .as_ref()
                        .and_then(|m| m.pending_deletion_window_in_days)
                        .filter(|d| *d < 0)
                    {
                        return Err(format!(
                            "{at}.metadata.pending_deletion_window_in_days: {days} is not a number of days"
                        ));
                    }
                    if let Some(days) = key
                        .rotation
                        .as_ref()
                        .and_then(|r| r.period_days)
                        .filter(|d| *d <= 0)
                    {
                        return Err(format!(
                            "{at}.rotation.period_days: {days} is not a rotation period"
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}
