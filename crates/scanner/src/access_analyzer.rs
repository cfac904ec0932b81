//! IAM Access Analyzer: the analyzers of one account × region and their active findings on KMS
//! keys (ListAnalyzers, ListFindings).

use aws_sdk_accessanalyzer::types::Criterion;
use kmsaudit_model::AccessAnalyzerRecord;

use crate::classify::issue;
use crate::{convert, Scanner};

/// Findings per ListFindings page.
const FINDINGS_PAGE: i32 = 100;

impl Scanner {
    /// Analyzers of this account × region and their active findings on KMS keys. A listing
    /// that fails is recorded in `error`: what was read before it is kept, and the evaluator
    /// treats the region's coverage as unknown.
    pub(crate) async fn read_access_analyzer(
        &self,
        aa: &aws_sdk_accessanalyzer::Client,
    ) -> AccessAnalyzerRecord {
        let mut record = AccessAnalyzerRecord::default();
        let analyzers = match self
            .all_pages(aa.list_analyzers().into_paginator().items().send())
            .await
        {
            Ok(a) => a,
            Err(e) => {
                record.error = Some(issue("AccessAnalyzer.ListAnalyzers", &e));
                return record;
            }
        };
        record.analyzers = analyzers
            .iter()
            .map(convert::analyzer)
            .filter(|a| a.analyzer_type == "ACCOUNT" || a.analyzer_type == "ORGANIZATION")
            .collect();
        let active: Vec<String> = record
            .analyzers
            .iter()
            .filter(|a| a.status == "ACTIVE")
            .map(|a| a.arn.clone())
            .collect();
        for analyzer_arn in active {
            // ListFindings (not V2): its summaries carry the principal, condition and whether
            // the access is public, so no call per finding is needed. It lists the external
            // access findings these analyzer types make.
            let listed = self
                .all_pages(
                    aa.list_findings()
                        .analyzer_arn(&analyzer_arn)
                        .filter(
                            "resourceType",
                            Criterion::builder().eq("AWS::KMS::Key").build(),
                        )
                        .filter("status", Criterion::builder().eq("ACTIVE").build())
                        .max_results(FINDINGS_PAGE)
                        .into_paginator()
                        .items()
                        .send(),
                )
                .await;
            match listed {
                Ok(summaries) => record.findings.extend(
                    summaries
                        .iter()
                        .map(|s| convert::finding_summary(&analyzer_arn, s))
                        .filter(|f| f.status == "ACTIVE"),
                ),
                Err(e) => {
                    record.error = Some(issue("AccessAnalyzer.ListFindings", &e));
                    return record;
                }
            }
        }
        record
    }
}
