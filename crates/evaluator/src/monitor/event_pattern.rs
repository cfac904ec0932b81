//! EventBridge event patterns matched against events, so that a rule is judged by the events it
//! matches: exact values, `prefix`, `suffix`, `anything-but`, `exists`, `equals-ignore-case`,
//! `wildcard` and `$or`. A pattern that uses anything else (`numeric`, `cidr`) is not
//! understood and matches nothing here: such a rule is never counted as an alert.

use serde_json::{Map, Value};

/// Parses a rule's event pattern.
pub(crate) fn parse(pattern: &str) -> Result<Map<String, Value>, String> {
    match serde_json::from_str::<Value>(pattern) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err("an event pattern is a JSON object".into()),
        Err(e) => Err(format!("the event pattern is not JSON: {e}")),
    }
}

/// Whether `pattern` matches `event`.
pub(crate) fn matches(pattern: &Map<String, Value>, event: &Value) -> bool {
    pattern.iter().all(|(key, want)| {
        if key == "$or" {
            return want.as_array().is_some_and(|alternatives| {
                alternatives
                    .iter()
                    .any(|a| a.as_object().is_some_and(|a| matches(a, event)))
            });
        }
        let got = event.get(key.as_str());
        match want {
            Value::Object(inner) => got.is_some_and(|g| g.is_object() && matches(inner, g)),
            Value::Array(allowed) => allowed.iter().any(|a| value_matches(a, got)),
            _ => false,
        }
    })
}

/// One element of a pattern's array against the event's value (an array matches when one of
/// its elements does).
fn value_matches(allowed: &Value, got: Option<&Value>) -> bool {
    if let Value::Object(filter) = allowed {
        if let Some(exists) = filter.get("exists") {
            return exists.as_bool() == Some(got.is_some());
        }
    }
    let Some(got) = got else {
        return false;
    };
    match got {
        Value::Array(items) => items.iter().any(|g| scalar_matches(allowed, g)),
        g => scalar_matches(allowed, g),
    }
}

fn scalar_matches(allowed: &Value, got: &Value) -> bool {
    let Value::Object(filter) = allowed else {
        return allowed == got;
    };
    let text = got.as_str();
    let mut conditions = filter.iter();
    let (Some((kind, arg)), None) = (conditions.next(), conditions.next()) else {
        return false;
    };
    match (kind.as_str(), text) {
        ("prefix", Some(t)) => arg.as_str().is_some_and(|p| t.starts_with(p)),
        ("suffix", Some(t)) => arg.as_str().is_some_and(|s| t.ends_with(s)),
        ("equals-ignore-case", Some(t)) => arg.as_str().is_some_and(|s| t.eq_ignore_ascii_case(s)),
        ("wildcard", Some(t)) => arg
            .as_str()
            .is_some_and(|w| crate::policy::wildcard_match(w, t)),
        ("anything-but", _) => match arg {
            Value::Array(not) => !not.iter().any(|n| n == got),
            Value::Object(inner) => !scalar_matches(&Value::Object(inner.clone()), got),
            single => single != got,
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kms_event(name: &str) -> Value {
        serde_json::json!({
            "source": "aws.kms",
            "detail-type": "AWS API Call via CloudTrail",
            "detail": {"eventSource": "kms.amazonaws.com", "eventName": name},
        })
    }

    fn hits(pattern: &str, name: &str) -> bool {
        matches(&parse(pattern).unwrap(), &kms_event(name))
    }

    #[test]
    fn names_prefixes_and_or() {
        let p = r#"{"source":["aws.kms"],"detail-type":["AWS API Call via CloudTrail"],"detail":{"eventName":["DisableKey","ScheduleKeyDeletion","PutKeyPolicy"]}}"#;
        assert!(hits(p, "DisableKey") && hits(p, "PutKeyPolicy"));
        assert!(!hits(p, "Decrypt"));
        let prefix =
            r#"{"source":["aws.kms"],"detail":{"eventName":[{"prefix":"Schedule"},"DisableKey"]}}"#;
        assert!(hits(prefix, "ScheduleKeyDeletion") && !hits(prefix, "PutKeyPolicy"));
        let or = r#"{"$or":[{"detail":{"eventName":["DisableKey"]}},{"detail":{"eventName":["PutKeyPolicy"]}}]}"#;
        assert!(hits(or, "PutKeyPolicy") && !hits(or, "Encrypt"));
    }

    #[test]
    fn anything_but_exists_and_unknown_filters() {
        let but = r#"{"source":["aws.kms"],"detail":{"eventName":[{"anything-but":["Decrypt","Encrypt"]}]}}"#;
        assert!(hits(but, "DisableKey") && !hits(but, "Decrypt"));
        let exists = r#"{"detail":{"errorCode":[{"exists":false}]}}"#;
        assert!(hits(exists, "DisableKey"));
        let numeric = r#"{"detail":{"eventName":[{"numeric":[">",0]}]}}"#;
        assert!(!hits(numeric, "DisableKey"));
        // Another source: the rule is not about KMS.
        assert!(!hits(r#"{"source":["aws.ec2"]}"#, "DisableKey"));
        assert!(parse("[1]").is_err() && parse("{").is_err());
    }
}
