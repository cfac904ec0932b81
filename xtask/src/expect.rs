//! The fixture's expectations with real ids: what the end-to-end test asserts.

use std::path::Path;

use serde::Serialize;

use crate::fixture::Fixture;
use crate::seed::Seeded;
use crate::standin::StandIn;

#[derive(Debug, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Expected {
    pub rule: String,
    pub resource: String,
    pub status: String,
}

/// Read by `crates/cli/tests/it/e2e.rs`.
#[derive(Debug, Serialize)]
pub struct E2eSpec {
    pub proxy_url: String,
    pub access_analyzer_url: String,
    pub config: Option<String>,
    /// Every FAIL and NOT_ASSESSED finding the scan must produce, and no other.
    pub exact: Vec<Expected>,
    /// PASS / NOT_APPLICABLE findings that must be present.
    pub present: Vec<Expected>,
    /// access.csv rows: (key ARN, `PRINCIPAL-SUFFIX CAPABILITY VERDICT`) that must be there.
    pub access_present: Vec<(String, String)>,
    /// (key ARN, `PRINCIPAL-SUFFIX CAPABILITY`) that must not.
    pub access_absent: Vec<(String, String)>,
    pub seeded: Seeded,
}

pub fn e2e_spec(
    fixture: &Fixture,
    seeded: &Seeded,
    fixture_path: &Path,
    standin: &StandIn,
) -> anyhow::Result<E2eSpec> {
    let mut exact = Vec::new();
    let mut present = Vec::new();
    let e = |rule: &str, resource: &str, status: &str| Expected {
        rule: rule.into(),
        resource: resource.into(),
        status: status.into(),
    };
    for k in &fixture.keys {
        let arn = &seeded.keys[&k.name].0;
        exact.extend(k.expect_fail.iter().map(|r| e(r, arn, "FAIL")));
        exact.extend(
            k.expect_not_assessed
                .iter()
                .map(|r| e(r, arn, "NOT_ASSESSED")),
        );
        present.extend(k.expect_pass.iter().map(|r| e(r, arn, "PASS")));
        present.extend(
            k.expect_not_applicable
                .iter()
                .map(|r| e(r, arn, "NOT_APPLICABLE")),
        );
    }
    for s in &fixture.expect_scope {
        let id = seeded.account(&s.account)?;
        let resource = match (&s.region, &s.policy) {
            (_, Some(policy)) => seeded.substitute(policy, id),
            (Some(r), None) => format!("account/{id}/region/{r}"),
            (None, None) => format!("account/{id}"),
        };
        let item = e(&s.rule, &resource, &s.status);
        if matches!(s.status.as_str(), "FAIL" | "NOT_ASSESSED") {
            exact.push(item);
        } else {
            present.push(item);
        }
    }
    exact.sort();
    present.sort();
    let (mut access_present, mut access_absent) = (vec![], vec![]);
    for a in &fixture.access {
        let arn = &seeded.keys[&a.key].0;
        access_present.extend(a.expect.iter().map(|e| (arn.clone(), e.clone())));
        access_absent.extend(a.absent.iter().map(|e| (arn.clone(), e.clone())));
    }
    Ok(E2eSpec {
        proxy_url: standin.proxy_url.clone(),
        access_analyzer_url: standin.access_analyzer_url.clone(),
        config: fixture.config.as_ref().map(|c| {
            fixture_path
                .parent()
                .unwrap_or(Path::new("."))
                .join(c)
                .display()
                .to_string()
        }),
        exact,
        present,
        access_present,
        access_absent,
        seeded: seeded.clone(),
    })
}
