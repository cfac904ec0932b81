//! What a rule reads: a key policy's analysis, or a customer-managed key with its policy.

use kmsaudit_model::{AccessAnalyzerRecord, KeyMetadata, KeyRecord};

use super::Outcome;
use crate::policy::{Analysis, PolicyError};

/// The key policy of one key, as far as it could be read.
pub(crate) enum PolicyState {
    Analyzed(Analysis),
    Unparseable(PolicyError),
    /// Not read: why.
    Unread(String),
}

/// What a policy rule sees: the analysis plus who the key belongs to.
pub(crate) struct PolicyInput<'a> {
    pub analysis: &'a Analysis,
    pub key_account: Option<&'a str>,
}

/// What a key rule sees.
pub(crate) struct KeyInput<'a> {
    pub key: &'a KeyRecord,
    pub meta: &'a KeyMetadata,
    pub region: &'a str,
    pub policy: &'a PolicyState,
    pub access_analyzer: Option<&'a AccessAnalyzerRecord>,
}

impl KeyInput<'_> {
    /// The policy analysis, when it could be done.
    pub fn policy_analysis(&self) -> Option<&Analysis> {
        match self.policy {
            PolicyState::Analyzed(analysis) => Some(analysis),
            _ => None,
        }
    }
}

/// Runs a policy rule on a key's policy, or explains why it cannot.
pub(crate) fn with_policy(
    state: &PolicyState,
    key_account: &str,
    f: impl FnOnce(&PolicyInput<'_>) -> Outcome,
) -> Outcome {
    match state {
        PolicyState::Analyzed(analysis) => {
            let outcome = f(&PolicyInput {
                analysis,
                key_account: Some(key_account),
            });
            // A statement left out may allow what the rule looks for: no PASS can be given.
            match analysis.incomplete() {
                Some(why) if outcome.status == kmsaudit_model::Status::Pass => {
                    Outcome::not_assessed(why)
                }
                _ => outcome,
            }
        }
        PolicyState::Unparseable(e) => {
            Outcome::not_assessed(format!("the key policy could not be parsed: {e}"))
        }
        PolicyState::Unread(why) => Outcome::not_assessed(why.clone()),
    }
}
