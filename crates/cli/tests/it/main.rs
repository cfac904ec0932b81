//! kmsaudit's integration tests, one binary: the CLI on files (`cli`), hostile key policies in a
//! snapshot (`hostile`), and scans of the local AWS stand-in that `cargo xtask test` starts (`e2e`).

mod cli;
mod e2e;
mod e2e_access;
mod e2e_baseline;
mod e2e_compliance;
mod evidence;
mod hostile;
mod pack_safety;
mod security_hub;
mod support;
