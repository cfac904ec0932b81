//! The key policy engine: IAM policy JSON → normalized statements → who may do what.

mod access;
mod actions;
mod allow;
mod analysis;
mod arn_accounts;
mod cidr;
mod condition;
mod contradiction;
mod deny;
mod deny_kind;
mod intrinsic;
mod invalid;
mod json;
mod keys;
mod operator;
mod parse;
mod partial;
mod principal;
mod reach;
pub mod reference;
mod resolve;
mod resource;
mod variables;
mod wildcard;

pub use actions::{ActionSet, IAM_ONLY_ACTIONS, KMS_ACTIONS};
pub use analysis::{
    analyze, analyze_in, Access, Analysis, AnalysisEnv, Reach, Who, MAX_NARROWED_BY,
};
pub use condition::{BaseOperator, Condition, Operator, Pin, Restriction, SetQualifier};
pub use parse::{
    parse_policy, parse_policy_as, ActionSpec, Effect, InvalidStatement, KeyScope, Policy,
    PolicyError, PolicyKind, Principal, PrincipalSpec, ResourceSpec, Statement,
};
pub use partial::{
    allow_action_masks, allowable_actions, deny_statements, match_policy, statement_label,
    KnownContext, PartialRequest, PolicyMatch, Tri,
};
pub(crate) use reach::admits;
pub(crate) use wildcard::{arn_match, has_wildcard, prefix_compatible, wildcard_match};
