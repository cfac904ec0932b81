//! The evaluator's integration tests, one binary: the policy case corpus (`tests/data/*.toml`)
//! and property tests over hostile and generated policies.

mod corpus;
mod properties;
