//! Any bytes as a key policy: the engine must answer (a verdict or a parse error), never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let options = kmsaudit_evaluator::LintOptions {
            key_account: Some("111122223333".into()),
            org_accounts: vec!["111122223333".into()],
            org_id: Some("o-exampleorg".into()),
            config: Default::default(),
            key_arn: None,
        };
        let report = kmsaudit_evaluator::lint_policy(text, &options);
        if report.parse_error.is_some() {
            assert_eq!(report.findings.len(), 1);
        }
    }
});
