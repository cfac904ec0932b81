//! What cannot be analysed: a statement outside the grammar, set apart with its error, and
//! why KMS would refuse a document as a whole.

use serde_json::Value;

use super::parse::{Effect, PolicyError};

/// A statement outside the grammar (IAM would refuse the policy, or ignore the statement).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidStatement {
    /// Position in the `Statement` array (0-based).
    pub index: usize,
    /// Its `Effect`, when that much is readable: leaving out a Deny can only over-state access,
    /// leaving out an Allow (or a statement of unknown effect) can hide it.
    pub effect: Option<Effect>,
    /// What is wrong, and where.
    pub error: PolicyError,
    /// KMS documents that a statement without `Action` or `Resource` has no effect (PutKeyPolicy
    /// accepts it): leaving it out is exact.
    pub no_effect: bool,
}

impl InvalidStatement {
    /// Whether leaving the statement out may hide access: it has an effect, and it is not known
    /// to be a Deny.
    pub fn may_allow(&self) -> bool {
        !self.no_effect && self.effect != Some(Effect::Deny)
    }

    /// `statement N: what is wrong at where`, saying when KMS gives the statement no effect.
    pub fn describe(&self) -> String {
        format!(
            "statement {}: {} at {}{}",
            self.index,
            self.error.message,
            self.error.location,
            if self.no_effect {
                " (KMS gives a statement without Action or Resource no effect)"
            } else {
                ""
            }
        )
    }
}

/// Why KMS's PutKeyPolicy would refuse the document as a whole, for the rules it documents that
/// the grammar does not already enforce: at most 32,768 bytes; only printable ASCII and
/// Latin-1 characters plus tab, line feed and carriage return; a principal in every statement.
pub(super) fn refused_by_kms(text: &str, raw: &[&Value]) -> Option<String> {
    const KMS_MAX_BYTES: usize = 32_768;
    if text.len() > KMS_MAX_BYTES {
        return Some(format!(
            "the policy is {} bytes; KMS accepts at most {KMS_MAX_BYTES}",
            text.len()
        ));
    }
    let allowed = |c: char| matches!(c, '\t' | '\n' | '\r' | ' '..='~' | '\u{A0}'..='\u{FF}');
    if let Some(c) = text.chars().find(|c| !allowed(*c)) {
        return Some(format!(
            "the policy holds the character U+{:04X}; KMS accepts only printable ASCII and Latin-1",
            c as u32
        ));
    }
    raw.iter().enumerate().find_map(|(i, v)| {
        let named = v.get("Principal").is_some() || v.get("NotPrincipal").is_some();
        (v.is_object() && !named).then(|| {
            format!("statement {i} names no principal; KMS requires one in every statement")
        })
    })
}
