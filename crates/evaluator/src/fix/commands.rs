//! The exact AWS CLI command that fixes a non-policy finding, written into the finding's
//! evidence (`command`): rotation on with the configured period, deletion cancelled, a grant
//! revoked by id. Never run by kmsaudit.

use std::sync::Arc;

use kmsaudit_model::{Evidence, Finding, Status};

use crate::config::EvalConfig;

/// KMS accepts rotation periods of 90 to 2560 days.
fn rotation_days(config: &EvalConfig) -> i64 {
    config.max_rotation_days.clamp(90, 2560)
}

/// The command for one failing finding, if its rule has one.
pub(crate) fn command(f: &Finding, config: &EvalConfig) -> Option<String> {
    let (key, region) = (&*f.resource, &*f.region);
    let detail = |k: &str| f.evidence.details.get(k);
    let kms =
        |verb: &str, rest: String| format!("aws kms {verb} --key-id {key}{rest} --region {region}");
    Some(match &*f.rule_id {
        "KMS-ROTATION-DISABLED" | "KMS-ROTATION-PERIOD" => kms(
            "enable-key-rotation",
            format!(" --rotation-period-in-days {}", rotation_days(config)),
        ),
        "KMS-DELETION-SCHEDULED" => kms("cancel-key-deletion", String::new()),
        "KMS-KEY-DESTROY-IN-USE" => match detail("key_state")? {
            // A cancelled deletion leaves the key disabled.
            "PendingDeletion" | "PendingReplicaDeletion" => format!(
                "{} && {}",
                kms("cancel-key-deletion", String::new()),
                kms("enable-key", String::new())
            ),
            "Disabled" => kms("enable-key", String::new()),
            _ => return None,
        },
        "KMS-GRANT-BROAD" | "KMS-GRANT-EXTERNAL" => kms(
            "revoke-grant",
            format!(" --grant-id {}", detail("grant_id")?),
        ),
        // The later of two identical grants.
        "KMS-GRANT-DUPLICATE" => {
            let later = detail("grant_ids")?.rsplit(", ").next()?;
            kms("revoke-grant", format!(" --grant-id {later}"))
        }
        _ => return None,
    })
}

/// Writes each failing finding's command into its evidence. Grant ids and ARNs come from AWS:
/// a value that is not a plain token is not put in a command line.
pub(crate) fn annotate(findings: &mut [Finding], config: &EvalConfig) {
    use rayon::prelude::*;
    findings
        .par_iter_mut()
        .filter(|f| f.status == Status::Fail)
        .for_each(|f| {
            let Some(line) = command(f, config) else {
                return;
            };
            if !line
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || b" -_:/.&".contains(&c))
            {
                return;
            }
            f.evidence = Arc::new(Evidence::clone(&f.evidence).detail("command", line));
        });
}

#[cfg(test)]
mod tests {
    use super::*;
    use kmsaudit_model::{ResourceType, Severity};

    fn finding(rule: &str, evidence: Evidence) -> Finding {
        Finding {
            rule_id: rule.into(),
            severity: Severity::Medium,
            status: Status::Fail,
            muted: false,
            mute_reason: None,
            account_id: "111122223333".into(),
            region: "eu-west-1".into(),
            resource_type: ResourceType::Key,
            resource: "arn:aws:kms:eu-west-1:111122223333:key/k1".into(),
            resource_name: "k1".into(),
            message: "m".into(),
            evidence: Arc::new(evidence),
        }
    }

    #[test]
    fn each_fixable_rule_gets_its_exact_command() {
        let config = EvalConfig::default();
        let key = "--key-id arn:aws:kms:eu-west-1:111122223333:key/k1";
        let cases = [
            (
                finding("KMS-ROTATION-DISABLED", Evidence::default()),
                format!("aws kms enable-key-rotation {key} --rotation-period-in-days 365 --region eu-west-1"),
            ),
            (
                finding("KMS-DELETION-SCHEDULED", Evidence::default()),
                format!("aws kms cancel-key-deletion {key} --region eu-west-1"),
            ),
            (
                finding(
                    "KMS-KEY-DESTROY-IN-USE",
                    Evidence::default().detail("key_state", "Disabled"),
                ),
                format!("aws kms enable-key {key} --region eu-west-1"),
            ),
            (
                finding(
                    "KMS-GRANT-EXTERNAL",
                    Evidence::default().detail("grant_id", "abc123"),
                ),
                format!("aws kms revoke-grant {key} --grant-id abc123 --region eu-west-1"),
            ),
            (
                finding(
                    "KMS-GRANT-DUPLICATE",
                    Evidence::default().detail("grant_ids", "first1, second2"),
                ),
                format!("aws kms revoke-grant {key} --grant-id second2 --region eu-west-1"),
            ),
        ];
        for (f, want) in cases {
            assert_eq!(
                command(&f, &config).as_deref(),
                Some(want.as_str()),
                "{}",
                f.rule_id
            );
        }
        assert_eq!(
            command(&finding("KMS-TAGS-REQUIRED", Evidence::default()), &config),
            None
        );
        // The period is the configured one, within what KMS accepts.
        let config = EvalConfig {
            max_rotation_days: 30,
            ..EvalConfig::default()
        };
        let line = command(
            &finding("KMS-ROTATION-PERIOD", Evidence::default()),
            &config,
        )
        .unwrap();
        assert!(line.contains("--rotation-period-in-days 90"), "{line}");
    }

    #[test]
    fn a_hostile_grant_id_never_reaches_a_command_line() {
        let mut findings = vec![finding(
            "KMS-GRANT-BROAD",
            Evidence::default().detail("grant_id", "x; rm -rf ~"),
        )];
        annotate(&mut findings, &EvalConfig::default());
        assert_eq!(findings[0].evidence.details.get("command"), None);
        let mut findings = vec![finding("KMS-DELETION-SCHEDULED", Evidence::default())];
        annotate(&mut findings, &EvalConfig::default());
        assert!(findings[0].evidence.details.get("command").is_some());
    }
}
