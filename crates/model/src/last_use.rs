//! When each key was last used, from KMS GetKeyLastUsage: four states, never fewer.

use jiff::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::Issue;

/// GetKeyLastUsage's answer for one key, and when it was read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LastUse {
    /// What the answer says.
    #[serde(flatten)]
    pub state: LastUseState,
    /// When the answer was read: this scan, or for an answer carried from a baseline, the
    /// baseline's scan (KMS itself records use up to an hour late).
    pub read_at: Timestamp,
    /// Carried from the baseline instead of asked again: no use since can change a verdict.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub from_baseline: bool,
}

/// The four answers about a key's last use. "Never used" and "no recorded use" differ: KMS
/// began tracking after many keys were created, and what happened before is unknown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum LastUseState {
    /// The last successful cryptographic operation.
    Used {
        /// `Decrypt`, `GenerateDataKey`, `Sign`, ...
        operation: String,
        /// When it happened.
        at: Timestamp,
        /// The CloudTrail `eventId` of that operation.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cloudtrail_event_id: Option<String>,
    },
    /// Tracked since the key was created, and never used.
    NeverUsed {
        /// When the key was created (tracking began then).
        since: Timestamp,
    },
    /// No use recorded since tracking began, which was after the key's creation: use before
    /// then is unknown.
    NoRecordedUse {
        /// When KMS began tracking this key's use.
        since: Timestamp,
    },
    /// The call failed (access denied, throttled after retries, not reached in time).
    NotAssessed {
        /// Why.
        issue: Issue,
    },
}

/// How long a key has gone without use, as far as GetKeyLastUsage can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idle {
    /// Exactly this many whole days since the last use, or since creation if never used.
    Days(i64),
    /// At least this many whole days: nothing recorded since tracking began, unknown before.
    AtLeast(i64),
    /// Unknown: the answer could not be read.
    Unknown,
}

impl LastUseState {
    /// The state's name, as CSV and JSON spell it.
    pub fn name(&self) -> &'static str {
        match self {
            LastUseState::Used { .. } => "used",
            LastUseState::NeverUsed { .. } => "never_used",
            LastUseState::NoRecordedUse { .. } => "no_recorded_use",
            LastUseState::NotAssessed { .. } => "not_assessed",
        }
    }

    /// How long the key has gone without use at `now`.
    pub fn idle(&self, now: Timestamp) -> Idle {
        let days = |since: Timestamp| (now.as_second() - since.as_second()).max(0) / 86_400;
        match self {
            LastUseState::Used { at, .. } => Idle::Days(days(*at)),
            LastUseState::NeverUsed { since } => Idle::Days(days(*since)),
            LastUseState::NoRecordedUse { since } => Idle::AtLeast(days(*since)),
            LastUseState::NotAssessed { .. } => Idle::Unknown,
        }
    }

    /// One sentence for people: "last used by Decrypt on 2026-11-30", "never used since ...".
    pub fn describe(&self) -> String {
        let day = |t: &Timestamp| t.strftime("%Y-%m-%d").to_string();
        match self {
            LastUseState::Used { operation, at, .. } => {
                format!("last used by {operation} on {}", day(at))
            }
            LastUseState::NeverUsed { since } => {
                format!("never used since its creation on {}", day(since))
            }
            LastUseState::NoRecordedUse { since } => format!(
                "no recorded use since KMS began tracking it on {} (use before then is unknown)",
                day(since)
            ),
            LastUseState::NotAssessed { issue } => format!("last use not read: {issue}"),
        }
    }
}

/// What CloudTrail's LookupEvents says of one key: the latest events naming it (one page,
/// newest first, within 90 days).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct KeyEvents {
    /// Newest first.
    pub events: Vec<KeyEvent>,
    /// LookupEvents failed: the events are unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<crate::Issue>,
}

/// One CloudTrail event naming a key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct KeyEvent {
    /// When it happened.
    pub time: Timestamp,
    /// The API call (`Decrypt`, `ScheduleKeyDeletion`...).
    pub name: String,
    /// Who made it (CloudTrail's user name: a user, a role session, a service).
    pub caller: String,
    /// Its error code when it failed (`DisabledException`, `KMSInvalidStateException`...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
}

impl KeyEvents {
    /// The calls that failed because of the key's state (disabled, pending deletion) at or
    /// after `since`.
    pub fn failing_since(&self, since: Timestamp) -> impl Iterator<Item = &KeyEvent> {
        self.events.iter().filter(move |e| {
            e.time >= since
                && e.error_code
                    .as_deref()
                    .is_some_and(|c| matches!(c, "DisabledException" | "KMSInvalidStateException"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn idle_days_tell_exact_from_lower_bound_and_unknown() {
        let now = t("2026-12-01T00:00:00Z");
        let used = LastUseState::Used {
            operation: "Decrypt".into(),
            at: t("2026-11-01T12:00:00Z"),
            cloudtrail_event_id: None,
        };
        assert_eq!(used.idle(now), Idle::Days(29));
        let never = LastUseState::NeverUsed {
            since: t("2026-06-01T00:00:00Z"),
        };
        assert_eq!(never.idle(now), Idle::Days(183));
        let none = LastUseState::NoRecordedUse {
            since: t("2026-04-23T00:00:00Z"),
        };
        assert_eq!(none.idle(now), Idle::AtLeast(222));
        let failed = LastUseState::NotAssessed {
            issue: Issue::new("KMS.GetKeyLastUsage", "AccessDeniedException", "no"),
        };
        assert_eq!(failed.idle(now), Idle::Unknown);
    }

    #[test]
    fn the_state_is_a_tag_beside_its_fields() {
        let u = LastUse {
            state: LastUseState::NoRecordedUse {
                since: t("2026-04-23T00:00:00Z"),
            },
            read_at: t("2026-12-01T00:00:00Z"),
            from_baseline: false,
        };
        let json = serde_json::to_string(&u).unwrap();
        assert_eq!(
            json,
            r#"{"state":"no_recorded_use","since":"2026-04-23T00:00:00Z","read_at":"2026-12-01T00:00:00Z"}"#
        );
        assert_eq!(serde_json::from_str::<LastUse>(&json).unwrap(), u);
    }
}
