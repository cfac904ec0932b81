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
    pub(crate) line: u32,
    pub(crate) column: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Map(Vec<(Box<str>, Node)>),
    Seq(Vec<Node>),
    /// A scalar; `plain` when unquoted (then it may read as a number, true, false or null).
    Scalar {
        text: Box<str>,
        plain: bool,
    },
}

impl Node {
    /// Where the node starts (1-based line and column).
    pub(crate) fn position(&self) -> Position {
        (self.line as usize, self.column as usize)
    }

    /// The value at `key` of a map.
    pub(crate) fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Map(entries) => entries.iter().find(|(k, _)| &**k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub(crate) fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    /// The node as JSON text, as [`Node::to_json`] would print it, written straight from the
    /// tree: a large YAML policy is not held a second time as a JSON value.
    pub(crate) fn to_json_text(&self) -> String {
        let mut out = Vec::new();
        self.write_json(&mut out);
        String::from_utf8(out).expect("JSON text is UTF-8")
    }

    fn write_json(&self, out: &mut Vec<u8>) {
        let string = |out: &mut Vec<u8>, s: &str| {
            serde_json::to_writer(&mut *out, s).expect("writing to memory");
        };
        match &self.value {
            Value::Map(entries) => {
                out.push(b'{');
                // As a JSON object holds them (serde_json keeps insertion order here): each key
                // where it first appears, with the last value given for it.
                let last: std::collections::HashMap<&str, usize> = entries
                    .iter()
                    .enumerate()
                    .map(|(i, (k, _))| (&**k, i))
                    .collect();
                let mut seen = std::collections::HashSet::new();
                for (k, _) in entries {
                    if !seen.insert(&**k) {
                        continue;
                    }
                    if seen.len() > 1 {
                        out.push(b',');
                    }
                    string(out, k);
                    out.push(b':');
                    entries[last[&**k]].1.write_json(out);
                }
                out.push(b'}');
            }
            Value::Seq(items) => {
                out.push(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    item.write_json(out);
                }
                out.push(b']');
            }
            Value::Scalar { .. } => {
                serde_json::to_writer(&mut *out, &self.to_json()).expect("writing to memory")
            }
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
                    .map(|(k, v)| (k.to_string(), v.to_json()))
                    .collect(),
            ),
            Value::Seq(items) => J::Array(items.iter().map(Node::to_json).collect()),
            Value::Scalar { text, plain: true } => match &**text {
                "true" => J::Bool(true),
                "false" => J::Bool(false),
                "null" | "~" | "" => J::Null,
                t => match serde_json::from_str::<serde_json::Number>(t) {
                    Ok(n) => J::Number(n),
                    Err(_) => J::String(text.to_string()),
                },
            },
            Value::Scalar { text, .. } => J::String(text.to_string()),
        }
    }
}

/// Parses `text` (JSON or YAML, one document).
pub(crate) fn parse(text: &str) -> Result<Node, String> {
    let mut builder = Builder::default();
    // Event by event, not the parser's `load` (which recurses once per nesting level, so a few
    // kilobytes of `- - - -` overflow the stack before any depth cap could act): the builder
    // keeps its own stack and stops at the first error, depth included.
    let mut parser = Parser::new_from_str(text);
    loop {
        let (event, mark) = parser.next_token().map_err(|e| {
            format!(
                "{} at line {} column {}",
                e.info(),
                e.marker().line(),
                e.marker().col() + 1
            )
        })?;
        if matches!(event, Event::DocumentEnd | Event::StreamEnd) {
            break;
        }
        builder.on_event(event, mark);
        if let Some(e) = builder.error.take() {
            return Err(e);
        }
    }
    builder.root.ok_or_else(|| "the file is empty".to_string())
}

/// A node being built: a map (with its pending key) or a sequence, and its CloudFormation tag.
/// A 1-based line and column.
pub(crate) type Position = (usize, usize);

/// For a JSON policy whose top level holds `"Statement"`: where the document starts and where
/// each statement starts (1-based line and column, as [`parse`] gives them), found by one pass
/// over the text without building a tree, so that a large policy file costs little beside its
/// text. `None`: not such a document (or a key written with escapes): parse it as a tree.
pub(crate) fn json_statement_positions(text: &str) -> Option<(Position, Vec<Position>)> {
    let (mut line, mut column) = (1usize, 0usize);
    let mut depth = 0usize;
    let mut root = None;
    let mut in_string = false;
    let mut escaped = false;
    let mut string = String::new();
    let mut last_key_string = None::<String>;
    // Inside the top-level object: the key whose value comes next, and whether we are in the
    // Statement array (waiting for an element to start).
    let mut key = None::<String>;
    let mut in_statements = false;
    let mut element_expected = false;
    let mut found = false;
    let mut statements = Vec::new();
    for c in text.chars() {
        if c == '\n' {
            line += 1;
            column = 0;
            continue;
        }
        column += 1;
        if in_string {
            if escaped {
                escaped = false;
                if depth == 1 {
                    return None;
                }
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
                if depth == 1 {
                    last_key_string = Some(std::mem::take(&mut string));
                }
            } else if depth == 1 {
                string.push(c);
            }
            continue;
        }
        if c.is_whitespace() {
            continue;
        }
        let statement_here = element_expected && depth == 2 && c != ']';
        if statement_here {
            statements.push((line, column));
            element_expected = false;
        }
        let value_of_statement = depth == 1 && key.as_deref() == Some("Statement");
        match c {
            '"' => {
                in_string = true;
                string.clear();
            }
            ':' if depth == 1 => key = last_key_string.take(),
            ',' if depth == 1 => key = None,
            ',' if depth == 2 && in_statements => element_expected = true,
            '{' | '[' => {
                if depth == 0 {
                    if c != '{' || root.is_some() {
                        return None;
                    }
                    root = Some((line, column));
                } else if value_of_statement {
                    found = true;
                    if c == '[' {
                        in_statements = true;
                        element_expected = true;
                    } else {
                        statements.push((line, column));
                    }
                }
                depth += 1;
            }
            '}' | ']' => {
                depth = depth.checked_sub(1)?;
                if depth == 1 {
                    in_statements = false;
                    element_expected = false;
                }
            }
            _ => {}
        }
    }
    (found && depth == 0).then(|| (root.expect("a document"), statements))
}

enum Open {
    Map {
        node: Node,
        key: Option<Box<str>>,
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
            value: Value::Map(vec![(name.into_boxed_str(), node)]),
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
            line: u32::try_from(mark.line()).unwrap_or(u32::MAX),
            column: u32::try_from(mark.col() + 1).unwrap_or(u32::MAX),
        };
        match ev {
            Event::Scalar(text, style, _, tag) => {
                let plain = style == TScalarStyle::Plain;
                let node = at(Value::Scalar {
                    text: text.into_boxed_str(),
                    plain,
                });
                self.add(wrap(node, intrinsic(&tag)));
            }
            // An alias is not expanded: it reads as null.
            Event::Alias(_) => self.add(at(Value::Scalar {
                text: Box::default(),
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
                let (mut node, tag) = match self.stack.pop() {
                    Some(Open::Map { node, tag, .. }) | Some(Open::Seq { node, tag }) => {
                        (node, tag)
                    }
                    None => return,
                };
                // Held until the file is read: no growth slack (a large policy's tree would
                // otherwise cost up to twice its size again).
                match &mut node.value {
                    Value::Map(entries) => entries.shrink_to_fit(),
                    Value::Seq(items) => items.shrink_to_fit(),
                    Value::Scalar { .. } => {}
                }
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
    fn statement_positions_without_a_tree_match_the_tree() {
        for text in [
            "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [\n    {\"Effect\": \"Allow\", \"Sid\": \"a,]}\"},\n    {\"Sid\": \"b\"}\n  ]\n}",
            "{\"Statement\": {\"Effect\": \"Deny\"}, \"Version\": \"2012-10-17\"}",
            "  {\"Id\": {\"Statement\": []}, \"Statement\":[ {}, {\"x\": [1, {\"y\": 2}]} ,{} ]}",
        ] {
            let tree = parse(text).unwrap();
            let statements = match &tree.get("Statement").unwrap().value {
                Value::Seq(items) => items.iter().map(Node::position).collect(),
                _ => {
                    let s = tree.get("Statement").unwrap();
                    vec![s.position()]
                }
            };
            assert_eq!(
                json_statement_positions(text),
                Some((tree.position(), statements)),
                "{text}"
            );
        }
        assert_eq!(json_statement_positions("{\"Resources\": {}}"), None);
        assert_eq!(json_statement_positions("[1]"), None);
    }

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
        assert_eq!(tree.to_json_text(), tree.to_json().to_string());
        let unordered = parse("z: 1\na: [x, 2, true, ~, '3']\nz: 2\nm: {b: 1, a: 1e3}\n").unwrap();
        assert_eq!(unordered.to_json_text(), unordered.to_json().to_string());
        assert!(c.len() < 100, "aliases expanded: {c}");
        let deep = "[".repeat(1000) + &"]".repeat(1000);
        let refused = parse(&deep).unwrap_err();
        assert!(
            refused.contains("nested deeper") || refused.contains("recursion limit"),
            "{refused}"
        );
    }
}
