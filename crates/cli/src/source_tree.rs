//! A JSON or YAML document as a tree whose every node knows its line and column, for
//! `lint-policy`'s findings to point at the statement in the file. JSON is read by the same
//! YAML parser (JSON is YAML's flow style); CloudFormation's short-form tags (`!Ref`,
//! `!GetAtt`...) become the long form (`{"Ref": ...}`, `{"Fn::GetAtt": ...}`).
//!
//! Hostile input is bounded: aliases are not expanded (no "billion laughs"), nesting is capped
//! and so is the file's size (checked by the caller).

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Deeper than this is refused: no real template nests so far.
const MAX_DEPTH: usize = 200;

/// One node, with where it starts (1-based line and column).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub(crate) value: Value,
    pub(crate) line: usize,
    pub(crate) column: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Map(Vec<(String, Node)>),
    Seq(Vec<Node>),
    /// A scalar; `plain` when unquoted (then it may read as a number, true, false or null).
    Scalar {
        text: String,
        plain: bool,
    },
}

impl Node {
    /// The value at `key` of a map.
    pub(crate) fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub(crate) fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    /// The node as JSON: plain scalars that read as JSON numbers, booleans or null become
    /// those; every other scalar is a string.
    pub(crate) fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            Value::Map(entries) => J::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_json()))
                    .collect(),
            ),
            Value::Seq(items) => J::Array(items.iter().map(Node::to_json).collect()),
            Value::Scalar { text, plain: true } => match text.as_str() {
                "true" => J::Bool(true),
                "false" => J::Bool(false),
                "null" | "~" | "" => J::Null,
                t => match serde_json::from_str::<serde_json::Number>(t) {
                    Ok(n) => J::Number(n),
                    Err(_) => J::String(text.clone()),
                },
            },
            Value::Scalar { text, .. } => J::String(text.clone()),
        }
    }
}

/// Parses `text` (JSON or YAML, one document).
pub(crate) fn parse(text: &str) -> Result<Node, String> {
    let mut builder = Builder::default();
    Parser::new_from_str(text)
        .load(&mut builder, false)
        .map_err(|e| {
            format!(
                "{} at line {} column {}",
                e.info(),
                e.marker().line(),
                e.marker().col() + 1
            )
        })?;
    if let Some(e) = builder.error {
        return Err(e);
    }
    builder.root.ok_or_else(|| "the file is empty".to_string())
}

/// A node being built: a map (with its pending key) or a sequence, and its CloudFormation tag.
enum Open {
    Map {
        node: Node,
        key: Option<String>,
        tag: Option<String>,
    },
    Seq {
        node: Node,
        tag: Option<String>,
    },
}

#[derive(Default)]
struct Builder {
    stack: Vec<Open>,
    root: Option<Node>,
    error: Option<String>,
}

/// The long-form name of a CloudFormation short-form tag: `!Ref` → `Ref`, `!GetAtt` →
/// `Fn::GetAtt`. Other tags (`!!str`...) are YAML's own and change nothing here.
fn intrinsic(tag: &Option<Tag>) -> Option<String> {
    let tag = tag.as_ref()?;
    if tag.handle != "!" || tag.suffix.is_empty() {
        return None;
    }
    Some(if tag.suffix == "Ref" || tag.suffix == "Condition" {
        tag.suffix.clone()
    } else {
        format!("Fn::{}", tag.suffix)
    })
}

fn wrap(node: Node, tag: Option<String>) -> Node {
    match tag {
        None => node,
        Some(name) => Node {
            line: node.line,
            column: node.column,
            value: Value::Map(vec![(name, node)]),
        },
    }
}

impl Builder {
    fn add(&mut self, node: Node) {
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Open::Seq { node: seq, .. }) => {
                if let Value::Seq(items) = &mut seq.value {
                    items.push(node);
                }
            }
            Some(Open::Map { node: map, key, .. }) => match key.take() {
                None => match &node.value {
                    Value::Scalar { text, .. } => {
                        // A block mapping's start is reported at its first `:`; it starts
                        // where its first key does.
                        if matches!(&map.value, Value::Map(e) if e.is_empty())
                            && (node.line, node.column) < (map.line, map.column)
                        {
                            (map.line, map.column) = (node.line, node.column);
                        }
                        *key = Some(text.clone());
                    }
                    _ => {
                        self.error = Some(format!("line {}: a key that is not a string", node.line))
                    }
                },
                Some(k) => {
                    if let Value::Map(entries) = &mut map.value {
                        entries.push((k, node));
                    }
                }
            },
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        let at = |value| Node {
            value,
            line: mark.line(),
            column: mark.col() + 1,
        };
        match ev {
            Event::Scalar(text, style, _, tag) => {
                let plain = style == TScalarStyle::Plain;
                let node = at(Value::Scalar { text, plain });
                self.add(wrap(node, intrinsic(&tag)));
            }
            // An alias is not expanded: it reads as null.
            Event::Alias(_) => self.add(at(Value::Scalar {
                text: String::new(),
                plain: true,
            })),
            Event::MappingStart(..) | Event::SequenceStart(..) if self.stack.len() >= MAX_DEPTH => {
                self.error = Some(format!(
                    "line {}: nested deeper than {MAX_DEPTH} levels",
                    mark.line()
                ));
            }
            Event::MappingStart(_, tag) => self.stack.push(Open::Map {
                node: at(Value::Map(Vec::new())),
                key: None,
                tag: intrinsic(&tag),
            }),
            Event::SequenceStart(_, tag) => self.stack.push(Open::Seq {
                node: at(Value::Seq(Vec::new())),
                tag: intrinsic(&tag),
            }),
            Event::MappingEnd | Event::SequenceEnd => {
                let (node, tag) = match self.stack.pop() {
                    Some(Open::Map { node, tag, .. }) | Some(Open::Seq { node, tag }) => {
                        (node, tag)
                    }
                    None => return,
                };
                self.add(wrap(node, tag));
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_yaml_nodes_know_their_lines_and_short_tags_become_long_form() {
        let json = parse(
            "{\n  \"Statement\": [\n    {\"Effect\": \"Allow\"},\n    {\"Sid\": \"b\"}\n  ]\n}",
        )
        .unwrap();
        let statements = json.get("Statement").unwrap();
        let Value::Seq(items) = &statements.value else {
            panic!()
        };
        assert_eq!((items[0].line, items[0].column), (3, 5));
        assert_eq!((items[1].line, items[1].column), (4, 5));

        let yaml = parse(
            "Resources:\n  Key:\n    Principal:\n      AWS: !GetAtt Role.Arn\n    Sub: !Sub 'arn:${AWS::Partition}:x'\n    Count: 12\n",
        )
        .unwrap();
        let key = yaml.get("Resources").unwrap().get("Key").unwrap();
        assert_eq!(
            key.to_json(),
            serde_json::json!({
                "Principal": {"AWS": {"Fn::GetAtt": "Role.Arn"}},
                "Sub": {"Fn::Sub": "arn:${AWS::Partition}:x"},
                "Count": 12
            })
        );
        assert_eq!(key.get("Principal").unwrap().line, 4);
    }

    #[test]
    fn aliases_are_not_expanded_and_depth_is_bounded() {
        let laughs = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\nc: [*b, *b, *b, *b, *b, *b, *b, *b]\n";
        let tree = parse(laughs).unwrap();
        let c = tree.get("c").unwrap().to_json().to_string();
        assert!(c.len() < 100, "aliases expanded: {c}");
        let deep = "[".repeat(1000) + &"]".repeat(1000);
        let refused = parse(&deep).unwrap_err();
        assert!(
            refused.contains("nested deeper") || refused.contains("recursion limit"),
            "{refused}"
        );
    }
}
