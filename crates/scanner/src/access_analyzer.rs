//! IAM Access Analyzer: the analyzers of one account × region and their active findings on KMS
//! keys (ListAnalyzers, ListFindingsV2, GetFindingV2).

use aws_sdk_accessanalyzer::types::Criterion;
use kmsaudit_model::AccessAnalyzerRecord;

use futures::stream::{self, StreamExt};

use crate::classify::issue;
use crate::{convert, Scanner};

/// GetFindingV2 calls of one analyzer in flight at once.
const FINDING_DETAILS_IN_FLIGHT: usize = 32;

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
            let listed = self
                .all_pages(
                    aa.list_findings_v2()
                        .analyzer_arn(&analyzer_arn)
                        .filter(
                            "resourceType",
                            Criterion::builder().eq("AWS::KMS::Key").build(),
                        )
                        .filter("status", Criterion::builder().eq("ACTIVE").build())
                        .into_paginator()
                        .items()
                        .send(),
                )
                .await;
            let summaries = match listed {
                Ok(s) => s,
                Err(e) => {
                    record.error = Some(issue("AccessAnalyzer.ListFindingsV2", &e));
                    return record;
                }
            };
            let active: Vec<_> = summaries
                .iter()
                .map(|s| convert::finding_summary(&analyzer_arn, s))
                .filter(|f| f.status == "ACTIVE")
                .collect();
            // The details of each finding, several at once (an organization analyzer may hold
            // thousands); a finding whose details cannot be read is kept without them.
            let detailed = stream::iter(active)
                .map(|mut f| {
                    let details = aa.get_finding_v2().analyzer_arn(&analyzer_arn).id(&f.id);
                    async move {
                        match details.send().await {
                            Ok(out) => convert::add_finding_details(&mut f, &out),
                            Err(e) => {
                                tracing::warn!(finding = %f.id, error = %issue("AccessAnalyzer.GetFindingV2", &e), "finding details not read")
                            }
                        }
                        f
                    }
                })
                .buffer_unordered(FINDING_DETAILS_IN_FLIGHT)
                .collect::<Vec<_>>()
                .await;
            record.findings.extend(detailed);
        }
        record
    }
}
