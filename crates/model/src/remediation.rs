//! Checked fixes the evaluation proposes: for a key whose policy fails a policy rule, a
//! corrected policy proven by re-analysis (written to the pack as `remediation/<stem>.json`,
//! with `remediation/<stem>.diff`). Nothing is ever applied by kmsaudit.

use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The proposal for one key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct KeyRemediation {
    /// The key.
    pub key_arn: Arc<str>,
    /// Its account.
    pub account_id: Arc<str>,
    /// Its region.
    pub region: Arc<str>,
    /// The pack's file names without extension: `remediation/<stem>.json` is the proposed
    /// policy, `remediation/<stem>.diff` the diff. The key id when it is a plain id and unique
    /// in the pack, else the key id with account and region.
    pub stem: String,
    /// Rules the proposal fixes, with the change made for each.
    pub fixed: Vec<RuleChange>,
    /// Policy rules still failing after it, with why no checked edit exists.
    pub refused: Vec<RuleChange>,
    /// The proposed key policy (pretty JSON), what `command` applies (shared by the keys the
    /// same proposal serves).
    pub policy: Arc<str>,
    /// Unified diff of the current policy (as pretty JSON) against `policy`.
    pub diff: Arc<str>,
    /// The AWS CLI command that would apply it (never run by kmsaudit).
    pub command: String,
}

/// A rule and a sentence: the change made, or why none was.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RuleChange {
    /// e.g. `KMS-POLICY-PUBLIC`.
    pub rule_id: String,
    /// The change, or the reason.
    pub text: String,
}
