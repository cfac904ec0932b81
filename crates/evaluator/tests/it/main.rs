//! The evaluator's integration tests, one binary: the policy case corpus (`tests/data/*.toml`),
//! property tests over hostile and generated policies, and Access Analyzer coverage across
//! accounts.

mod analyzer_coverage;
mod corpus;
mod effective;
mod effective_soundness;
mod properties;
mod soundness;
