//! The rule → framework control mappings, read from `data/compliance.toml` (embedded). The file
//! is checked by the tests below: every rule maps to every framework that covers its subject,
//! every control id and source it names is declared, and every rule it names exists.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use kmsaudit_model::{ControlInfo, FrameworkInfo};
use serde::Deserialize;

const DATA: &str = include_str!("../data/compliance.toml");

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Mappings {
    sources: BTreeMap<String, String>,
    framework: Vec<Framework>,
    rule: Vec<RuleMapping>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Framework {
    key: String,
    name: String,
    /// Read by the tidy test only.
    #[cfg_attr(not(test), allow(dead_code))]
    covers: Vec<String>,
    controls: Vec<Control>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Control {
    id: String,
    title: String,
    sources: Vec<String>,
}

#[derive(Deserialize)]
struct RuleMapping {
    id: String,
    /// Read by the tidy test only.
    #[cfg_attr(not(test), allow(dead_code))]
    subject: String,
    /// Framework key → control ids.
    #[serde(flatten)]
    controls: BTreeMap<String, Vec<String>>,
}

fn parse(text: &str) -> Result<Mappings, toml::de::Error> {
    toml::from_str(text)
}

fn mappings_data() -> &'static Mappings {
    static DATA_PARSED: OnceLock<Mappings> = OnceLock::new();
    DATA_PARSED.get_or_init(|| {
        parse(DATA).unwrap_or_else(|e| panic!("data/compliance.toml (checked by tests): {e}"))
    })
}

/// Whether `selected` (framework keys; empty: all) lets the framework appear.
fn chosen(f: &Framework, selected: &[String]) -> bool {
    selected.is_empty() || selected.contains(&f.key)
}

/// The framework keys, in file order.
pub(crate) fn framework_keys() -> Vec<&'static str> {
    mappings_data()
        .framework
        .iter()
        .map(|f| f.key.as_str())
        .collect()
}

/// Framework name → the control ids the rule decides, as [`kmsaudit_model::RuleInfo`] holds
/// them, for the `selected` frameworks (keys; empty: all).
pub(crate) fn mappings(rule_id: &str, selected: &[String]) -> BTreeMap<String, Vec<String>> {
    let data = mappings_data();
    let Some(rule) = data.rule.iter().find(|r| r.id == rule_id) else {
        return BTreeMap::new();
    };
    data.framework
        .iter()
        .filter(|f| chosen(f, selected))
        .filter_map(|f| Some((f.name.clone(), rule.controls.get(&f.key)?.clone())))
        .collect()
}

/// The `selected` frameworks (keys; empty: all) with their controls, sources written out, in
/// the mapping file's order.
pub fn frameworks(selected: &[String]) -> Vec<FrameworkInfo> {
    let data = mappings_data();
    data.framework
        .iter()
        .filter(|f| chosen(f, selected))
        .map(|f| FrameworkInfo {
            key: f.key.clone(),
            name: f.name.clone(),
            controls: f
                .controls
                .iter()
                .map(|c| ControlInfo {
                    id: c.id.clone(),
                    title: c.title.clone(),
                    sources: c
                        .sources
                        .iter()
                        .map(|s| data.sources.get(s).cloned().unwrap_or_else(|| s.clone()))
                        .collect(),
                })
                .collect(),
        })
        .collect()
}

#[cfg(test)]
/// What is wrong with a mapping file, given the catalog's rule ids: one line per problem.
fn problems(data: &Mappings, rule_ids: &[&str]) -> Vec<String> {
    let mut out = vec![];
    for f in &data.framework {
        for c in &f.controls {
            for s in &c.sources {
                if !data.sources.contains_key(s) {
                    out.push(format!(
                        "{} {}: source `{s}` is not in [sources]",
                        f.key, c.id
                    ));
                }
            }
            if c.title.trim().is_empty() || c.sources.is_empty() {
                out.push(format!(
                    "{} {}: a control needs a title and a source",
                    f.key, c.id
                ));
            }
        }
        if let Some(s) = f
            .covers
            .iter()
            .find(|s| !data.rule.iter().any(|r| &&r.subject == s))
        {
            out.push(format!(
                "{} covers `{s}`, which no rule has as subject",
                f.key
            ));
        }
    }
    for r in &data.rule {
        if !rule_ids.contains(&r.id.as_str()) {
            out.push(format!("{}: not a rule of the catalog", r.id));
        }
        for (key, ids) in &r.controls {
            let Some(f) = data.framework.iter().find(|f| &f.key == key) else {
                out.push(format!("{}: `{key}` is not a framework of the file", r.id));
                continue;
            };
            for id in ids {
                if !f.controls.iter().any(|c| &c.id == id) {
                    out.push(format!("{}: {} has no control `{id}`", r.id, f.name));
                }
            }
        }
        for f in &data.framework {
            let mapped = r.controls.get(&f.key).is_some_and(|ids| !ids.is_empty());
            if f.covers.contains(&r.subject) && !mapped {
                out.push(format!(
                    "{}: {} covers `{}`, but the rule maps to none of its controls",
                    r.id, f.name, r.subject
                ));
            }
            if mapped && !f.covers.contains(&r.subject) {
                out.push(format!(
                    "{}: maps to {}, which does not list `{}` in covers",
                    r.id, f.name, r.subject
                ));
            }
        }
    }
    for id in rule_ids {
        if data.rule.iter().filter(|r| r.id == *id).count() != 1 {
            out.push(format!("{id}: needs exactly one [[rule]] entry"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog_ids() -> Vec<&'static str> {
        crate::rules::catalog().map(|r| r.id).collect()
    }

    #[test]
    fn the_mapping_file_is_whole() {
        let data = parse(DATA).expect("data/compliance.toml parses");
        let problems = problems(&data, &catalog_ids());
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    #[test]
    fn every_framework_the_issue_names_is_there() {
        let names: Vec<String> = frameworks(&[]).into_iter().map(|f| f.name).collect();
        for want in [
            "CIS AWS Foundations v3.0",
            "CIS AWS Foundations v5.0",
            "CIS AWS Foundations v6.0",
            "AWS Foundational Security Best Practices",
            "NIST SP 800-53 Rev. 5",
            "NIST CSF 2.0",
            "PCI DSS v4.0.1",
            "SOC 2 (2017 TSC)",
            "ISO/IEC 27001:2022",
            "HIPAA Security Rule",
        ] {
            assert!(names.iter().any(|n| n == want), "{want} missing");
        }
        // Sources are written out, not left as keys.
        let cis6 = frameworks(&[])
            .into_iter()
            .find(|f| f.name == "CIS AWS Foundations v6.0")
            .unwrap();
        assert!(cis6.controls[0].sources[0].contains("cis_6.0_aws.json"));
    }

    #[test]
    fn rotation_maps_to_each_cis_numbering() {
        let m = mappings("KMS-ROTATION-DISABLED", &[]);
        assert_eq!(m["CIS AWS Foundations v3.0"], ["3.6"]);
        assert_eq!(m["CIS AWS Foundations v5.0"], ["3.6"]);
        assert_eq!(m["CIS AWS Foundations v6.0"], ["4.6"]);
        assert_eq!(m["AWS Foundational Security Best Practices"], ["KMS.4"]);
        assert!(mappings("NO-SUCH-RULE", &[]).is_empty());
        let only = mappings("KMS-ROTATION-DISABLED", &["cis6".into(), "pci".into()]);
        assert_eq!(
            only.keys().collect::<Vec<_>>(),
            ["CIS AWS Foundations v6.0", "PCI DSS v4.0.1"]
        );
        assert_eq!(frameworks(&["pci".into()]).len(), 1);
    }

    /// The check itself can fail: each kind of mistake is reported.
    #[test]
    fn the_check_names_each_mistake() {
        let bad = r#"
[sources]
doc = "a document"

[[framework]]
key = "fw"
name = "Framework"
covers = ["rotation", "ghost"]
controls = [
  { id = "1", title = "One", sources = ["doc"] },
  { id = "2", title = "Two", sources = ["nowhere"] },
]

[[rule]]
id = "KMS-ROTATION-DISABLED"
subject = "rotation"
fw = ["1", "9"]

[[rule]]
id = "KMS-KEY-DISABLED"
subject = "rotation"

[[rule]]
id = "NOT-A-RULE"
subject = "key-lifecycle"
fw = ["1"]
other = ["1"]
"#;
        let data = parse(bad).unwrap();
        let problems = problems(
            &data,
            &[
                "KMS-ROTATION-DISABLED",
                "KMS-KEY-DISABLED",
                "KMS-POLICY-PUBLIC",
            ],
        )
        .join("\n");
        for want in [
            "fw 2: source `nowhere` is not in [sources]",
            "fw covers `ghost`, which no rule has as subject",
            "KMS-ROTATION-DISABLED: Framework has no control `9`",
            "KMS-KEY-DISABLED: Framework covers `rotation`, but the rule maps to none of its controls",
            "NOT-A-RULE: not a rule of the catalog",
            "NOT-A-RULE: `other` is not a framework of the file",
            "NOT-A-RULE: maps to Framework, which does not list `key-lifecycle` in covers",
            "KMS-POLICY-PUBLIC: needs exactly one [[rule]] entry",
        ] {
            assert!(problems.contains(want), "missing `{want}` in:\n{problems}");
        }
    }
}
