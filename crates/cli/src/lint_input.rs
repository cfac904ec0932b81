//! What `lint-policy` reads: files and globs, and in each file its key policies with where
//! they are. A file is a bare key policy (JSON), a CloudFormation template (JSON or YAML: every
//! `AWS::KMS::Key`'s `KeyPolicy`) or a Terraform plan (`terraform show -json`: every
//! `aws_kms_key`'s and `aws_kms_key_policy`'s `policy`).

use std::path::{Path, PathBuf};

use serde_json::Value as Json;

use crate::source_tree::{self, Node, Value};

/// Larger files are refused: a template is at most 1 MB, a plan rarely more than a few.
const MAX_FILE_BYTES: u64 = 64 << 20;

/// `AWS::AccountId` stands for the key's own account when no `--key-account` is given: a
/// template's key lives in the stack's account. Shown as this id.
pub(crate) const STACK_ACCOUNT: &str = "000000000000";

/// One key policy of a file.
#[derive(Debug)]
pub(crate) struct Document {
    /// What holds it: `policy`, `Resources.Key.Properties.KeyPolicy`, `aws_kms_key.main`.
    pub(crate) name: String,
    /// The policy's JSON text; `None` when the file does not say it (`note` says why).
    pub(crate) text: Option<String>,
    pub(crate) note: Option<String>,
    /// Where the policy starts.
    pub(crate) line: usize,
    pub(crate) column: usize,
    /// Where each statement starts, by index (empty: the policy's own position for all).
    pub(crate) statements: Vec<(usize, usize)>,
}

impl Document {
    /// Where statement `index` starts, else the policy.
    pub(crate) fn position(&self, index: Option<usize>) -> (usize, usize) {
        index
            .and_then(|i| self.statements.get(i).copied())
            .unwrap_or((self.line, self.column))
    }
}

/// The files named by `args`: paths as given, and glob patterns (`templates/**/*.yaml`)
/// matched below their literal prefix. `-` is standard input.
pub(crate) fn expand(args: &[String]) -> Result<Vec<String>, String> {
    let mut files = Vec::new();
    for arg in args {
        if arg == "-" || !arg.contains(['*', '?', '[', '{']) {
            files.push(arg.clone());
            continue;
        }
        let glob = globset::GlobBuilder::new(arg)
            .literal_separator(true)
            .build()
            .map_err(|e| format!("`{arg}` is not a glob pattern: {e}"))?
            .compile_matcher();
        // Walk from the part before the first wildcard.
        let cut = arg.find(['*', '?', '[', '{']).unwrap_or(arg.len());
        let root = match arg[..cut].rfind('/') {
            Some(i) => PathBuf::from(&arg[..=i]),
            None => PathBuf::from("."),
        };
        let mut found = Vec::new();
        walk(&root, &mut |path| {
            let shown = path.strip_prefix("./").unwrap_or(path);
            if glob.is_match(shown) {
                found.push(shown.display().to_string());
            }
        });
        if found.is_empty() {
            return Err(format!("`{arg}` matches no file"));
        }
        found.sort();
        files.extend(found);
    }
    Ok(files)
}

fn walk(dir: &Path, visit: &mut dyn FnMut(&Path)) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        match e.file_type() {
            Ok(t) if t.is_dir() => walk(&path, visit),
            Ok(t) if t.is_file() => visit(&path),
            _ => {}
        }
    }
}

/// Reads a file (or standard input for `-`), refusing one too large to be a template.
pub(crate) fn read(file: &str) -> Result<String, String> {
    use std::io::Read;
    let mut text = String::new();
    let result = if file == "-" {
        std::io::stdin()
            .take(MAX_FILE_BYTES + 1)
            .read_to_string(&mut text)
    } else {
        std::fs::File::open(file).and_then(|f| f.take(MAX_FILE_BYTES + 1).read_to_string(&mut text))
    };
    result.map_err(|e| format!("cannot read {file}: {e}"))?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(format!("{file} is larger than {} MB", MAX_FILE_BYTES >> 20));
    }
    Ok(text)
}

/// Values known without deploying: what `AWS::AccountId`, `AWS::Region` stand for.
pub(crate) struct Known {
    pub(crate) account: Option<String>,
    pub(crate) region: Option<String>,
}

/// The key policies of one file's text.
pub(crate) fn documents(text: &str, known: &Known) -> Result<Vec<Document>, String> {
    // A JSON key policy needs no tree: its statements' positions come from one pass.
    if let Some(((line, column), statements)) = source_tree::json_statement_positions(text) {
        return Ok(vec![Document {
            statements,
            line,
            column,
            ..bare(text, None)
        }]);
    }
    let tree = match source_tree::parse(text) {
        Ok(tree) => tree,
        // Not even YAML: if it looks like JSON, it is a policy the linter reports on.
        Err(_) if text.trim_start().starts_with('{') => return Ok(vec![bare(text, None)]),
        Err(e) => return Err(format!("neither JSON nor YAML: {e}")),
    };
    if tree.get("Statement").is_some() {
        let is_json = text.trim_start().starts_with('{');
        let policy = if is_json {
            text.to_string()
        } else {
            tree.to_json_text()
        };
        return Ok(vec![bare(&policy, Some(&tree))]);
    }
    if let Some(resources) = tree.get("Resources") {
        return Ok(cloudformation(resources, known));
    }
    if tree.get("planned_values").is_some() || tree.get("format_version").is_some() {
        return Ok(terraform(&tree));
    }
    Err(
        "not a key policy (no Statement), a CloudFormation template (no Resources) or a \
         Terraform plan (no planned_values)"
            .into(),
    )
}

fn bare(text: &str, tree: Option<&Node>) -> Document {
    Document {
        name: "policy".into(),
        text: Some(text.to_string()),
        note: None,
        line: tree.map_or(1, |t| t.position().0),
        column: tree.map_or(1, |t| t.position().1),
        statements: tree.map(statement_positions).unwrap_or_default(),
    }
}

fn statement_positions(policy: &Node) -> Vec<(usize, usize)> {
    match policy.get("Statement").map(|s| &s.value) {
        Some(Value::Seq(items)) => items.iter().map(Node::position).collect(),
        Some(_) => {
            let s = policy.get("Statement").expect("matched");
            vec![s.position()]
        }
        None => Vec::new(),
    }
}

fn cloudformation(resources: &Node, known: &Known) -> Vec<Document> {
    let Value::Map(entries) = &resources.value else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (name, resource) in entries {
        if resource.get("Type").and_then(Node::as_str) != Some("AWS::KMS::Key") {
            continue;
        }
        let path = format!("Resources.{name}.Properties.KeyPolicy");
        let mut doc = Document {
            name: path.clone(),
            text: None,
            note: None,
            line: resource.position().0,
            column: resource.position().1,
            statements: Vec::new(),
        };
        match resource.get("Properties").and_then(|p| p.get("KeyPolicy")) {
            None => {
                doc.note = Some(
                    "no KeyPolicy: KMS gives the key its default policy (the account's root, \
                     so IAM policies decide)"
                        .into(),
                );
            }
            Some(policy) => {
                doc.line = policy.position().0;
                doc.column = policy.position().1;
                let json = resolve(policy.to_json(), known);
                match &json {
                    // A policy given as a JSON string.
                    Json::String(s) => doc.text = Some(s.clone()),
                    Json::Object(map) if map.len() == 1 && is_intrinsic(map) => {
                        doc.note = Some(format!(
                            "the KeyPolicy is `{}`: only known at deploy time, not analysed",
                            map.keys().next().expect("one key")
                        ));
                    }
                    _ => {
                        doc.statements = statement_positions(policy);
                        doc.text = Some(json.to_string());
                    }
                }
            }
        }
        out.push(doc);
    }
    out
}

fn is_intrinsic(map: &serde_json::Map<String, Json>) -> bool {
    map.keys().all(|k| k == "Ref" || k.starts_with("Fn::"))
}

/// Replaces the intrinsic functions whose value is known without deploying: the pseudo
/// parameters `AWS::AccountId` (the key's account), `AWS::Partition`, `AWS::URLSuffix` and,
/// when known, `AWS::Region`, in `Ref`, `Fn::Sub` and `Fn::Join`. Every other intrinsic stays,
/// and the linter reports the statement it hides a value of.
fn resolve(value: Json, known: &Known) -> Json {
    let pseudo = |name: &str| -> Option<String> {
        match name {
            "AWS::AccountId" => Some(
                known
                    .account
                    .clone()
                    .unwrap_or_else(|| STACK_ACCOUNT.to_string()),
            ),
            "AWS::Partition" => Some("aws".into()),
            "AWS::URLSuffix" => Some("amazonaws.com".into()),
            "AWS::Region" => known.region.clone(),
            _ => None,
        }
    };
    match value {
        Json::Array(items) => Json::Array(items.into_iter().map(|v| resolve(v, known)).collect()),
        Json::Object(map) if map.len() == 1 => {
            let (k, v) = map.into_iter().next().expect("one entry");
            let v = resolve(v, known);
            let resolved = match (k.as_str(), &v) {
                ("Ref", Json::String(name)) => pseudo(name),
                ("Fn::Sub", Json::String(template)) => substitute(template, &pseudo),
                ("Fn::Join", Json::Array(parts)) => match parts.as_slice() {
                    [Json::String(sep), Json::Array(items)] => items
                        .iter()
                        .map(|i| i.as_str().map(str::to_string))
                        .collect::<Option<Vec<_>>>()
                        .map(|items| items.join(sep)),
                    _ => None,
                },
                _ => None,
            };
            match resolved {
                Some(s) => Json::String(s),
                None => Json::Object([(k, v)].into_iter().collect()),
            }
        }
        Json::Object(map) => Json::Object(
            map.into_iter()
                .map(|(k, v)| (k, resolve(v, known)))
                .collect(),
        ),
        other => other,
    }
}

/// `Fn::Sub`'s template with every `${Name}` replaced, if each is known; `${!Literal}` is
/// written `${Literal}`.
fn substitute(template: &str, pseudo: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}')?;
        let name = &after[..end];
        match name.strip_prefix('!') {
            Some(literal) => out.push_str(&format!("${{{literal}}}")),
            None => out.push_str(&pseudo(name)?),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Some(out)
}

fn terraform(plan: &Node) -> Vec<Document> {
    let mut out = Vec::new();
    if let Some(root) = plan
        .get("planned_values")
        .and_then(|p| p.get("root_module"))
    {
        terraform_module(root, &mut out);
    }
    out
}

fn terraform_module(module: &Node, out: &mut Vec<Document>) {
    if let Some(Value::Seq(resources)) = module.get("resources").map(|r| &r.value) {
        for r in resources {
            let kind = r.get("type").and_then(Node::as_str).unwrap_or_default();
            if !matches!(kind, "aws_kms_key" | "aws_kms_key_policy") {
                continue;
            }
            let address = r.get("address").and_then(Node::as_str).unwrap_or(kind);
            let policy = r.get("values").and_then(|v| v.get("policy"));
            let mut doc = Document {
                name: address.to_string(),
                text: None,
                note: None,
                line: r.position().0,
                column: r.position().1,
                statements: Vec::new(),
            };
            match policy {
                Some(p) => {
                    doc.line = p.position().0;
                    doc.column = p.position().1;
                    match p.to_json() {
                        Json::String(s) if !s.is_empty() => doc.text = Some(s),
                        Json::Null => {
                            doc.note = Some("the policy is known only after apply".into())
                        }
                        _ => doc.note = Some("the policy is empty".into()),
                    }
                }
                None if kind == "aws_kms_key" => {
                    doc.note = Some(
                        "no policy: KMS gives the key its default policy (the account's root, \
                         so IAM policies decide)"
                            .into(),
                    );
                }
                None => doc.note = Some("the policy is known only after apply".into()),
            }
            out.push(doc);
        }
    }
    if let Some(Value::Seq(children)) = module.get("child_modules").map(|c| &c.value) {
        for child in children {
            terraform_module(child, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_and_join_of_pseudo_parameters_resolve_other_intrinsics_stay() {
        let known = Known {
            account: Some("111122223333".into()),
            region: None,
        };
        let v = serde_json::json!({
            "a": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"},
            "b": {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":x"]]},
            "c": {"Fn::GetAtt": ["Role", "Arn"]},
            "d": {"Fn::Sub": "${AWS::Region}"},
            "e": {"Fn::Sub": "${!Literal}"}
        });
        assert_eq!(
            resolve(v, &known),
            serde_json::json!({
                "a": "arn:aws:iam::111122223333:root",
                "b": "arn:aws:x",
                "c": {"Fn::GetAtt": ["Role", "Arn"]},
                "d": {"Fn::Sub": "${AWS::Region}"},
                "e": "${Literal}"
            })
        );
    }
}
