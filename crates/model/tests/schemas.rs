//! The JSON Schemas shipped in `schemas/` are the ones the serde types generate: a change to
//! findings.json or snapshot.json that is not reflected there fails here. Regenerate them with
//! `UPDATE_SCHEMAS=1 cargo test -p kmsaudit-model --test schemas`.

use std::path::PathBuf;

#[test]
fn shipped_schemas_match_the_types() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schemas");
    let update = std::env::var_os("UPDATE_SCHEMAS").is_some();
    for (name, schema) in kmsaudit_model::json_schemas() {
        let path = dir.join(name);
        if update {
            let mut text = serde_json::to_string_pretty(&sorted(schema)).unwrap();
            text.push('\n');
            std::fs::write(&path, &text).unwrap();
            continue;
        }
        let shipped: serde_json::Value = serde_json::from_slice(
            &std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
        )
        .unwrap();
        // Compared as JSON values with sorted keys: key order depends on serde_json's features,
        // which differ between a build of this crate alone and of the workspace.
        assert!(
            sorted(shipped) == sorted(schema),
            "schemas/{name} is stale: run UPDATE_SCHEMAS=1 cargo test -p kmsaudit-model --test schemas"
        );
    }
}

/// `v` with every object's keys in sorted order.
fn sorted(v: serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(map) => {
            let mut entries: Vec<_> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            serde_json::Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.into_iter().map(sorted).collect())
        }
        other => other,
    }
}

/// The schemas name what a reader needs: findings.json's groups and resource table, and the
/// snapshot's accounts with their keys.
#[test]
fn schemas_describe_the_documents() {
    let [(_, findings), (_, snapshot)] = kmsaudit_model::json_schemas();
    let props = |s: &serde_json::Value| -> Vec<String> {
        s["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect()
    };
    for field in ["rules", "resources", "findings", "quiet", "scope"] {
        assert!(props(&findings).contains(&field.to_string()), "{field}");
    }
    assert!(findings["$defs"]["FindingGroup"]["properties"]["resources"].is_object());
    assert!(props(&snapshot).contains(&"accounts".to_string()));
    assert!(snapshot["$defs"]["KeyRecord"].is_object());
}
