//! Whether a trail's event selectors log KMS management events: the writes an alert watches
//! (`DisableKey`, `ScheduleKeyDeletion`, `PutKeyPolicy`) and the reads (`ReadWriteType: All`).
//! Basic selectors are read as CloudTrail documents them (`ExcludeManagementEventSources` can
//! leave KMS out); advanced ones are matched field by field against those events.

use kmsaudit_model::{AdvancedSelector, FieldSelector, TrailSelectors};

/// The management events an alert on key destruction must see.
pub(crate) const WATCHED: [&str; 3] = ["DisableKey", "ScheduleKeyDeletion", "PutKeyPolicy"];

/// What a trail's selectors log of KMS management events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KmsLogging {
    /// Every watched write event.
    pub writes: bool,
    /// Read events (`DescribeKey`).
    pub reads: bool,
}

/// `None` (not read): unknown.
pub(crate) fn kms_logging(selectors: &TrailSelectors) -> KmsLogging {
    match selectors {
        TrailSelectors::Basic { selectors } if selectors.is_empty() => KmsLogging {
            writes: true,
            reads: true,
        },
        TrailSelectors::Basic { selectors } => {
            let logs = |read: bool| {
                selectors.iter().any(|s| {
                    let kind_ok = match s.read_write_type.as_str() {
                        "All" => true,
                        "ReadOnly" => read,
                        "WriteOnly" => !read,
                        _ => false,
                    };
                    kind_ok
                        && s.include_management_events
                        && !s
                            .exclude_management_event_sources
                            .iter()
                            .any(|src| src == "kms.amazonaws.com")
                })
            };
            KmsLogging {
                writes: logs(false),
                reads: logs(true),
            }
        }
        TrailSelectors::Advanced { selectors } => {
            let logged = |name: &str, read_only: bool| {
                let event = [
                    ("eventCategory", "Management"),
                    ("eventSource", "kms.amazonaws.com"),
                    ("eventName", name),
                    ("readOnly", if read_only { "true" } else { "false" }),
                    ("eventType", "AwsApiCall"),
                ];
                selectors.iter().any(|s| selector_holds(s, &event))
            };
            KmsLogging {
                writes: WATCHED.iter().all(|n| logged(n, false)),
                reads: logged("DescribeKey", true),
            }
        }
    }
}

fn selector_holds(s: &AdvancedSelector, event: &[(&str, &str)]) -> bool {
    s.fields.iter().all(|f| {
        let value = event
            .iter()
            .find(|(k, _)| *k == f.field)
            .map(|(_, v)| *v)
            .unwrap_or("");
        field_holds(f, value)
    })
}

fn field_holds(f: &FieldSelector, v: &str) -> bool {
    let any = |list: &[String], test: &dyn Fn(&str) -> bool| list.iter().any(|x| test(x));
    (f.equals.is_empty() && f.starts_with.is_empty() && f.ends_with.is_empty()
        || any(&f.equals, &|x| x == v)
        || any(&f.starts_with, &|x| v.starts_with(x))
        || any(&f.ends_with, &|x| v.ends_with(x)))
        && !any(&f.not_equals, &|x| x == v)
        && !any(&f.not_starts_with, &|x| v.starts_with(x))
        && !any(&f.not_ends_with, &|x| v.ends_with(x))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kmsaudit_model::BasicSelector;

    fn field(name: &str, equals: &[&str], not_equals: &[&str]) -> FieldSelector {
        FieldSelector {
            field: name.into(),
            equals: equals.iter().map(|s| s.to_string()).collect(),
            not_equals: not_equals.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn basic_selectors_default_write_only_and_kms_excluded() {
        let all = |exclude: Vec<String>, rw: &str| TrailSelectors::Basic {
            selectors: vec![BasicSelector {
                read_write_type: rw.into(),
                include_management_events: true,
                exclude_management_event_sources: exclude,
            }],
        };
        let both = KmsLogging {
            writes: true,
            reads: true,
        };
        assert_eq!(
            kms_logging(&TrailSelectors::Basic { selectors: vec![] }),
            both
        );
        assert_eq!(kms_logging(&all(vec![], "All")), both);
        let write_only = kms_logging(&all(vec![], "WriteOnly"));
        assert!(write_only.writes && !write_only.reads);
        let excluded = kms_logging(&all(vec!["kms.amazonaws.com".into()], "All"));
        assert!(!excluded.writes && !excluded.reads);
    }

    #[test]
    fn advanced_selectors_that_leave_kms_out_or_keep_only_reads() {
        let management = |fields: Vec<FieldSelector>| TrailSelectors::Advanced {
            selectors: vec![AdvancedSelector { name: None, fields }],
        };
        let m = field("eventCategory", &["Management"], &[]);
        let all = kms_logging(&management(vec![m.clone()]));
        assert!(all.writes && all.reads);
        let no_kms = kms_logging(&management(vec![
            m.clone(),
            field("eventSource", &[], &["kms.amazonaws.com"]),
        ]));
        assert!(!no_kms.writes && !no_kms.reads);
        let reads_only = kms_logging(&management(vec![m, field("readOnly", &["true"], &[])]));
        assert!(!reads_only.writes && reads_only.reads);
        let data_only = kms_logging(&management(vec![field("eventCategory", &["Data"], &[])]));
        assert!(!data_only.writes);
    }
}
