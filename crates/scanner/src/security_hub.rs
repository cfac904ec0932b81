//! Importing ASFF findings into AWS Security Hub, one member account at a time.
//!
//! With a custom integration's default product, Security Hub only takes findings whose
//! `AwsAccountId` is the calling account. So each account's findings are imported as that
//! account, through the same audit role the scan assumes (the caller's own credentials for its
//! own account); Security Hub's administrator account then sees them as it sees its members'.
//!
//! The records are sent exactly as the reporter wrote them (findings.asff.json): the SDK's
//! request body is replaced before signing, so what is imported is byte for byte what the pack
//! holds, and no second mapping to the SDK's types can drift from it.

use std::time::Duration;

use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_securityhub::types::{AwsSecurityFinding, StringFilter, StringFilterComparison};
use aws_smithy_types::body::SdkBody;
use aws_types::region::Region;
use aws_types::SdkConfig;

use crate::classify::issue;
use crate::credentials::{sts_client, AssumedRole};
use crate::CallCounter;

/// BatchImportFindings takes at most 100 findings per call.
const BATCH: usize = 100;

/// How to reach each account's Security Hub.
#[derive(Debug, Clone)]
pub struct HubAccess {
    /// Security Hub's region.
    pub region: String,
    /// The audit role assumed in member accounts, as in the scan.
    pub role_name: String,
    pub session_name: String,
    pub external_id: Option<String>,
    pub session_duration: Option<Duration>,
    /// `aws`, `aws-cn`, `aws-us-gov`.
    pub partition: String,
}

/// A finding kmsaudit imported earlier that is still active and failing.
#[derive(Debug, Clone)]
pub struct PriorFinding {
    pub id: String,
    /// The JSON record to re-import it with, fixed: Compliance PASSED, record ARCHIVED,
    /// workflow RESOLVED (the rest as Security Hub holds it).
    resolved: serde_json::Value,
    created_at: String,
}

/// One rejected finding: its id and Security Hub's reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub id: String,
    pub code: String,
    pub message: String,
}

/// What an account's import did.
#[derive(Debug, Clone, Default)]
pub struct AccountImport {
    pub account_id: String,
    /// Failing findings Security Hub took (new or updated).
    pub imported: usize,
    /// Findings imported earlier, fixed since, re-imported as RESOLVED.
    pub resolved: usize,
    /// Batches sent.
    pub batches: usize,
    /// Findings Security Hub refused, or that were in a batch whose call failed.
    pub rejected: Vec<Rejected>,
    /// Why nothing could be imported into this account (AssumeRole or GetFindings failed).
    pub error: Option<String>,
}

/// The product ARN of `account`'s custom integration in `region`.
pub fn product_arn(partition: &str, region: &str, account: &str) -> String {
    format!("arn:{partition}:securityhub:{region}:{account}:product/{account}/default")
}

/// Imports `findings` (ASFF records whose `AwsAccountId` is `account_id`) into the account's
/// Security Hub, in batches of 100; and re-imports as RESOLVED every finding imported earlier
/// that is not failing now and that `is_fixed` says was fixed.
pub async fn import_account(
    base: &SdkConfig,
    access: &HubAccess,
    caller_account: &str,
    account_id: &str,
    findings: Vec<serde_json::Value>,
    updated_at: &str,
    is_fixed: impl Fn(&str) -> bool,
) -> AccountImport {
    let mut report = AccountImport {
        account_id: account_id.to_string(),
        ..Default::default()
    };
    let config = match account_config(base, access, caller_account, account_id).await {
        Ok(c) => c,
        Err(e) => {
            report.error = Some(e);
            return report;
        }
    };
    let client = aws_sdk_securityhub::Client::from_conf(
        aws_sdk_securityhub::config::Builder::from(&config)
            .region(Region::new(access.region.clone()))
            .build(),
    );
    let product = product_arn(&access.partition, &access.region, account_id);
    import_with(
        &client,
        &product,
        findings,
        updated_at,
        is_fixed,
        &mut report,
    )
    .await;
    report
}

/// [`import_account`] once the account's client is built.
async fn import_with(
    client: &aws_sdk_securityhub::Client,
    product: &str,
    mut findings: Vec<serde_json::Value>,
    updated_at: &str,
    is_fixed: impl Fn(&str) -> bool,
    report: &mut AccountImport,
) {
    let prior = match prior_findings(client, product).await {
        Ok(p) => p,
        Err(e) => {
            report.error = Some(e);
            return;
        }
    };
    // A finding imported before keeps its CreatedAt.
    let current: std::collections::HashSet<String> = findings
        .iter()
        .filter_map(|f| f["Id"].as_str().map(str::to_string))
        .collect();
    let created: std::collections::HashMap<&str, &str> = prior
        .iter()
        .map(|p| (p.id.as_str(), p.created_at.as_str()))
        .collect();
    for f in &mut findings {
        let kept = f["Id"]
            .as_str()
            .and_then(|id| created.get(id))
            .map(|c| c.to_string());
        if let Some(c) = kept {
            f["CreatedAt"] = serde_json::Value::String(c);
        }
    }
    let imported_count = findings.len();
    let mut resolved: Vec<serde_json::Value> = prior
        .into_iter()
        .filter(|p| !current.contains(&p.id) && is_fixed(&p.id))
        .map(|mut p| {
            p.resolved["UpdatedAt"] = serde_json::Value::String(updated_at.to_string());
            p.resolved
        })
        .collect();
    let resolved_count = resolved.len();
    findings.append(&mut resolved);
    let mut rejected_current = 0;
    let mut rejected_resolved = 0;
    for (i, batch) in findings.chunks(BATCH).enumerate() {
        report.batches += 1;
        let rejected = import_batch(client, batch).await;
        for r in &rejected {
            // Records before `imported_count` are the failing findings; after, the resolved.
            let index = batch.iter().position(|f| f["Id"] == r.id.as_str());
            match index.map(|j| i * BATCH + j) {
                Some(k) if k >= imported_count => rejected_resolved += 1,
                _ => rejected_current += 1,
            }
        }
        report.rejected.extend(rejected);
    }
    report.imported = imported_count - rejected_current.min(imported_count);
    report.resolved = resolved_count - rejected_resolved.min(resolved_count);
}

async fn account_config(
    base: &SdkConfig,
    access: &HubAccess,
    caller_account: &str,
    account_id: &str,
) -> Result<SdkConfig, String> {
    if account_id == caller_account {
        return Ok(base.clone());
    }
    let role = AssumedRole::new(
        sts_client(base, &CallCounter::default()),
        format!(
            "arn:{}:iam::{account_id}:role/{}",
            access.partition, access.role_name
        ),
        access.session_name.clone(),
        access.external_id.clone(),
        access.session_duration.map(|d| d.as_secs() as i32),
    );
    role.credentials()
        .await
        .map_err(|e| issue("STS.AssumeRole", &e).to_string())?;
    Ok(base
        .to_builder()
        .credentials_provider(SharedCredentialsProvider::new(role))
        .build())
}

/// The account's active, failing findings of kmsaudit's product, every page.
async fn prior_findings(
    client: &aws_sdk_securityhub::Client,
    product: &str,
) -> Result<Vec<PriorFinding>, String> {
    let equals = |value: &str| {
        StringFilter::builder()
            .comparison(StringFilterComparison::Equals)
            .value(value)
            .build()
    };
    let filters = aws_sdk_securityhub::types::AwsSecurityFindingFilters::builder()
        .product_arn(equals(product))
        .record_state(equals("ACTIVE"))
        .compliance_status(equals("FAILED"))
        .generator_id(
            StringFilter::builder()
                .comparison(StringFilterComparison::Prefix)
                .value("kmsaudit/")
                .build(),
        )
        .build();
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = client
            .get_findings()
            .filters(filters.clone())
            .max_results(100)
            .set_next_token(token.clone())
            .send()
            .await
            .map_err(|e| issue("SecurityHub.GetFindings", &e).to_string())?;
        // Filtered here too: an endpoint that ignores the filters must not make kmsaudit
        // resolve another product's findings.
        out.extend(
            page.findings()
                .iter()
                .filter(|f| {
                    f.product_arn() == Some(product)
                        && f.generator_id().is_some_and(|g| g.starts_with("kmsaudit/"))
                        && f.record_state().is_none_or(|s| s.as_str() == "ACTIVE")
                        && f.compliance()
                            .and_then(|c| c.status())
                            .is_some_and(|s| s.as_str() == "FAILED")
                })
                .filter_map(prior),
        );
        token = page
            .next_token()
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        if token.is_none() {
            return Ok(out);
        }
    }
}

/// The earlier finding, and the record that resolves it.
fn prior(f: &AwsSecurityFinding) -> Option<PriorFinding> {
    use serde_json::json;
    let id = f.id()?.to_string();
    let created_at = f.created_at()?.to_string();
    let resources: Vec<serde_json::Value> = f
        .resources()
        .iter()
        .map(|r| {
            let mut v = json!({"Type": r.r#type(), "Id": r.id()});
            if let Some(p) = r.partition() {
                v["Partition"] = json!(p.as_str());
            }
            if let Some(region) = r.region() {
                v["Region"] = json!(region);
            }
            v
        })
        .collect();
    let severity = f.severity().map(|s| {
        json!({
            "Label": s.label().map(|l| l.as_str()).unwrap_or("INFORMATIONAL"),
            "Original": s.original().unwrap_or_default(),
        })
    });
    let resolved = json!({
        "SchemaVersion": f.schema_version()?,
        "Id": id,
        "ProductArn": f.product_arn()?,
        "ProductName": "kmsaudit",
        "CompanyName": "kmsaudit",
        "GeneratorId": f.generator_id()?,
        "AwsAccountId": f.aws_account_id()?,
        "Types": f.types(),
        "CreatedAt": created_at,
        "UpdatedAt": created_at,
        "Severity": severity.unwrap_or_else(|| json!({"Label": "INFORMATIONAL"})),
        "Title": f.title()?,
        "Description": f.description()?,
        "Resources": resources,
        "Compliance": {"Status": "PASSED"},
        "RecordState": "ARCHIVED",
        "Workflow": {"Status": "RESOLVED"},
    });
    Some(PriorFinding {
        id,
        resolved,
        created_at,
    })
}

/// One BatchImportFindings call with `batch` as its body: the findings it refused, or every
/// finding of the batch when the call itself failed.
async fn import_batch(
    client: &aws_sdk_securityhub::Client,
    batch: &[serde_json::Value],
) -> Vec<Rejected> {
    let body = serde_json::to_vec(&serde_json::json!({ "Findings": batch }))
        .expect("ASFF records serialize");
    let length = body.len().to_string();
    let sent = client
        .batch_import_findings()
        .set_findings(Some(Vec::new()))
        .customize()
        .mutate_request(move |request| {
            *request.body_mut() = SdkBody::from(body.clone());
            request
                .headers_mut()
                .insert("content-length", length.clone());
        })
        .send()
        .await;
    match sent {
        Ok(out) => out
            .failed_findings()
            .iter()
            .map(|f| Rejected {
                id: f.id().unwrap_or_default().to_string(),
                code: f.error_code().unwrap_or_default().to_string(),
                message: crate::classify::sanitize(f.error_message().unwrap_or_default()),
            })
            .collect(),
        Err(e) => {
            let i = issue("SecurityHub.BatchImportFindings", &e);
            batch
                .iter()
                .map(|f| Rejected {
                    id: f["Id"].as_str().unwrap_or_default().to_string(),
                    code: i.code.clone(),
                    message: i.message.clone(),
                })
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_securityhub::operation::batch_import_findings::BatchImportFindingsOutput;
    use aws_sdk_securityhub::operation::get_findings::GetFindingsOutput;
    use aws_sdk_securityhub::types::{
        AwsSecurityFinding, Compliance, ComplianceStatus, ImportFindingsError, RecordState,
        Resource, Severity, SeverityLabel,
    };
    use aws_smithy_mocks::{mock, mock_client, RuleMode};
    use serde_json::json;

    use super::*;

    const PRODUCT: &str = "arn:aws:securityhub:us-east-1:111122223333:product/111122223333/default";

    fn earlier(id: &str, status: ComplianceStatus) -> AwsSecurityFinding {
        AwsSecurityFinding::builder()
            .schema_version("2018-10-08")
            .id(id)
            .product_arn(PRODUCT)
            .generator_id("kmsaudit/KMS-ROTATION-DISABLED")
            .aws_account_id("111122223333")
            .types("Software and Configuration Checks/AWS Security Best Practices")
            .created_at("2026-01-01T00:00:00Z")
            .updated_at("2026-01-01T00:00:00Z")
            .severity(Severity::builder().label(SeverityLabel::Medium).build())
            .title("t")
            .description("d")
            .resources(Resource::builder().r#type("AwsKmsKey").id("k").build())
            .compliance(Compliance::builder().status(status).build())
            .record_state(RecordState::Active)
            .build()
    }

    fn record(id: &str) -> serde_json::Value {
        json!({"Id": id, "CreatedAt": "2026-06-01T00:00:00Z"})
    }

    /// 250 failing findings go in three batches; an earlier finding that is failing again
    /// keeps its CreatedAt; a fixed one is re-imported resolved, a not-fixed one is not, and
    /// another product's finding (an endpoint that ignores the filters) is left alone; a
    /// finding Security Hub refuses is counted and named.
    #[tokio::test]
    async fn batches_of_100_resolve_only_what_is_fixed_and_count_refusals() {
        let prior = mock!(aws_sdk_securityhub::Client::get_findings).then_output(|| {
            let mut other = earlier("other-product", ComplianceStatus::Failed);
            other.product_arn = Some("arn:aws:securityhub:us-east-1::product/aws/guardduty".into());
            GetFindingsOutput::builder()
                .findings(earlier("kmsaudit/A/0", ComplianceStatus::Failed))
                .findings(earlier("kmsaudit/A/fixed", ComplianceStatus::Failed))
                .findings(earlier("kmsaudit/A/unread", ComplianceStatus::Failed))
                .findings(earlier(
                    "kmsaudit/A/passed-already",
                    ComplianceStatus::Passed,
                ))
                .findings(other)
                .build()
        });
        let import = mock!(aws_sdk_securityhub::Client::batch_import_findings).then_output(|| {
            BatchImportFindingsOutput::builder()
                .failed_count(1)
                .success_count(99)
                .failed_findings(
                    ImportFindingsError::builder()
                        .id("kmsaudit/A/7")
                        .error_code("InvalidInput")
                        .error_message("Finding too large\u{1b}[31m")
                        .build(),
                )
                .build()
        });
        let client = mock_client!(aws_sdk_securityhub, RuleMode::MatchAny, [&prior, &import]);
        let findings: Vec<serde_json::Value> = (0..250)
            .map(|i| record(&format!("kmsaudit/A/{i}")))
            .collect();
        let mut report = AccountImport::default();
        import_with(
            &client,
            PRODUCT,
            findings,
            "2026-11-30T00:00:00Z",
            |id| id != "kmsaudit/A/unread",
            &mut report,
        )
        .await;
        assert_eq!(report.error, None);
        assert_eq!(report.batches, 3, "250 + 1 resolved, 100 per batch");
        assert_eq!(import.num_calls(), 3);
        // Every batch answered with one refusal of kmsaudit/A/7 (the mock's one answer); the
        // third batch does not hold it, so it counts against the failing findings.
        assert_eq!(report.rejected.len(), 3);
        assert_eq!(report.rejected[0].code, "InvalidInput");
        assert!(!report.rejected[0].message.contains('\u{1b}'), "sanitized");
        assert_eq!(report.imported, 247);
        assert_eq!(report.resolved, 1);
    }

    #[test]
    fn a_prior_finding_is_resolved_with_its_own_fields() {
        let p = prior(&earlier("kmsaudit/A/fixed", ComplianceStatus::Failed)).unwrap();
        assert_eq!(p.resolved["Compliance"]["Status"], "PASSED");
        assert_eq!(p.resolved["RecordState"], "ARCHIVED");
        assert_eq!(p.resolved["Workflow"]["Status"], "RESOLVED");
        assert_eq!(p.resolved["CreatedAt"], "2026-01-01T00:00:00Z");
        assert_eq!(p.resolved["Resources"][0]["Id"], "k");
        assert_eq!(p.resolved["Severity"]["Label"], "MEDIUM");
    }
}
