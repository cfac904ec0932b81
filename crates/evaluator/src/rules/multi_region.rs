//! Rule: KMS-KEY-MULTI-REGION
//!
//! The key is a multi-Region key (info: its material lives in several regions), raised to
//! medium when a replica is in a region outside `allowed_regions`.

use kmsaudit_model::{Evidence, Severity};

use super::{Ctx, KeyInput, Outcome, RuleDef};

pub(crate) const RULE: RuleDef = RuleDef {
    id: "KMS-KEY-MULTI-REGION",
    severity: Severity::Info,
    title: "Multi-Region key",
    rationale: "The same key material in several regions widens where data can be decrypted and which regional policies apply; data-residency rules may forbid some regions.",
    remediation: "Use single-Region keys unless replication is required; delete replicas in regions outside the allowed list.",
};

pub(crate) fn check(input: &KeyInput<'_>, ctx: &Ctx<'_>) -> Outcome {
    let m = input.meta;
    if m.multi_region != Some(true) {
        return Outcome::pass("Single-Region key");
    }
    let cfg = m.multi_region_configuration.clone().unwrap_or_default();
    let mut regions: Vec<&String> = cfg
        .replica_regions
        .iter()
        .chain(cfg.primary_region.as_ref())
        .collect();
    regions.sort();
    regions.dedup();
    let ev = Evidence::default()
        .detail("multi_region_key_type", cfg.key_type.clone())
        .detail(
            "regions",
            regions
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        );
    let allowed = &ctx.config.allowed_regions;
    let outside: Vec<&str> = regions
        .iter()
        .filter(|r| !allowed.is_empty() && !allowed.contains(r))
        .map(|s| s.as_str())
        .collect();
    if outside.is_empty() {
        Outcome::fail(
            format!(
                "Multi-Region {} key (regions: {})",
                cfg.key_type,
                regions
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            ev,
        )
    } else {
        let mut o = Outcome::fail(
            format!(
                "Multi-Region key with material in regions outside allowed_regions: {}",
                outside.join(", ")
            ),
            ev,
        );
        o.severity = Some(Severity::Medium);
        o
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use crate::config::EvalConfig;
    use kmsaudit_model::{MultiRegionConfiguration, Severity, Status::*};

    #[test]
    fn multi_region_is_listed_and_raised_outside_allowed() {
        let mut k = test_key();
        assert_eq!(check_key("KMS-KEY-MULTI-REGION", &k), Pass);
        let m = k.metadata.as_mut().unwrap();
        m.multi_region = Some(true);
        m.multi_region_configuration = Some(MultiRegionConfiguration {
            key_type: "PRIMARY".into(),
            primary_region: Some("us-east-1".into()),
            replica_regions: vec!["ap-southeast-2".into()],
        });
        let o = check_key_with("KMS-KEY-MULTI-REGION", &k, None, &EvalConfig::default());
        assert_eq!((o.status, o.severity), (Fail, None));
        let cfg = EvalConfig {
            allowed_regions: vec!["us-east-1".into()],
            ..Default::default()
        };
        let o = check_key_with("KMS-KEY-MULTI-REGION", &k, None, &cfg);
        assert_eq!((o.status, o.severity), (Fail, Some(Severity::Medium)));
    }
}
