//! CloudFormation intrinsic functions left in a key policy by a template (`lint-policy` reads
//! templates): they stand for values only known at deploy time.

use serde_json::Value;

use super::parse::{err, PolicyError};

/// A CloudFormation intrinsic function (`{"Ref": ...}`, `{"Fn::GetAtt": ...}`) left in a
/// statement by a template: the value it stands for is only known at deploy time, so the
/// statement cannot be read.
pub(super) fn intrinsic_in(v: &Value, path: &str, depth: usize) -> Option<PolicyError> {
    if depth > 32 {
        return None;
    }
    match v {
        Value::Object(map) => {
            if map.len() == 1 {
                let (k, inner) = map.iter().next().expect("one entry");
                if k == "Ref" || k.starts_with("Fn::") {
                    let shown = inner.to_string();
                    let shown: String = shown.chars().take(120).collect();
                    return Some(err(
                        path,
                        format!(
                            "`{k}` {shown} is a CloudFormation intrinsic function: this value is \
                             only known at deploy time"
                        ),
                    ));
                }
            }
            map.iter()
                .find_map(|(k, inner)| intrinsic_in(inner, &format!("{path}.{k}"), depth + 1))
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, inner)| intrinsic_in(inner, &format!("{path}[{i}]"), depth + 1)),
        _ => None,
    }
}
