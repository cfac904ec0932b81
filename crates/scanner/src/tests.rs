//! Call logic against mocked clients (moto never paginates nor throttles): paging, the fewest
//! calls, failures recorded where they belong, retries.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_kms::operation::describe_key::DescribeKeyOutput;
use aws_sdk_kms::operation::get_key_policy::GetKeyPolicyOutput;
use aws_sdk_kms::operation::get_key_rotation_status::GetKeyRotationStatusOutput;
use aws_sdk_kms::operation::list_aliases::ListAliasesOutput;
use aws_sdk_kms::operation::list_grants::ListGrantsOutput;
use aws_sdk_kms::operation::list_keys::ListKeysOutput;
use aws_sdk_kms::operation::list_resource_tags::ListResourceTagsOutput;
use aws_sdk_kms::types::{
    AliasListEntry, GrantListEntry, GrantOperation, KeyListEntry, KeyManagerType, KeyMetadata,
    KeySpec, KeyState, KeyUsageType, OriginType,
};
use aws_sdk_kms::Client;
use aws_sdk_resourcegroupstagging::operation::get_resources::GetResourcesOutput;
use aws_sdk_resourcegroupstagging::types::{ResourceTagMapping, Tag as TaggingTag};
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;

use super::*;
use crate::kms::RegionClients;
use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use kmsaudit_model::{RegionAccess, RegionSource};

pub(crate) fn scanner() -> Scanner {
    let base = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .build();
    Scanner {
        base,
        plan: ScanPlan {
            access_analyzer: false,
            ..Default::default()
        },
        counter: CallCounter::default(),
        key_slots: tokio::sync::Semaphore::new(8),
        progress: Arc::new(|_| {}),
        partition: "aws".into(),
        caller_account: "111122223333".into(),
        accounts_api: mock_client!(aws_sdk_account, RuleMode::MatchAny, &[]),
        analyzer_homes: Default::default(),
        last_use: None,
        management: Default::default(),
    }
}

/// Clients whose Tagging API lists no tagged key.
fn clients(rules: &[&Rule]) -> RegionClients {
    let untagged = mock!(aws_sdk_resourcegroupstagging::Client::get_resources)
        .then_output(|| GetResourcesOutput::builder().pagination_token("").build());
    clients_with_tagging(rules, &[&untagged])
}

fn clients_with_tagging(rules: &[&Rule], tagging: &[&Rule]) -> RegionClients {
    let kms = mock_client!(aws_sdk_kms, RuleMode::MatchAny, rules, |c| c.retry_config(
        RetryConfig::standard()
            .with_max_attempts(4)
            .with_initial_backoff(Duration::from_millis(1))
    ));
    let tagging = mock_client!(aws_sdk_resourcegroupstagging, RuleMode::MatchAny, tagging);
    let aa = aws_sdk_accessanalyzer::Client::from_conf(
        aws_sdk_accessanalyzer::config::Builder::new()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .build(),
    );
    let cloudtrail = mock_client!(aws_sdk_cloudtrail, RuleMode::MatchAny, &[]);
    RegionClients {
        kms,
        aa,
        tagging,
        cloudtrail,
    }
}

fn arn(id: &str) -> String {
    format!("arn:aws:kms:us-east-1:111122223333:key/{id}")
}

fn entry(id: &str) -> KeyListEntry {
    KeyListEntry::builder().key_id(id).key_arn(arn(id)).build()
}

fn metadata(id: &str, spec: KeySpec, usage: KeyUsageType) -> KeyMetadata {
    KeyMetadata::builder()
        .key_id(id)
        .arn(arn(id))
        .aws_account_id("111122223333")
        .enabled(true)
        .key_state(KeyState::Enabled)
        .key_manager(KeyManagerType::Customer)
        .key_spec(spec)
        .key_usage(usage)
        .origin(OriginType::AwsKms)
        .build()
        .unwrap()
}

fn json_error(status: u16, code: &str) -> HttpResponse {
    HttpResponse::new(
        StatusCode::try_from(status).unwrap(),
        SdkBody::from(format!(
            r#"{{"__type":"{code}","message":"{code} (mocked)"}}"#
        )),
    )
}

/// Every per-key call answers for any key.
fn per_key_rules() -> Vec<Rule> {
    vec![
        mock!(Client::describe_key).then_compute_output(|req| {
            let id = req.key_id().unwrap_or_default().to_string();
            let (spec, usage) = if id.starts_with("rsa") {
                (KeySpec::Rsa2048, KeyUsageType::SignVerify)
            } else {
                (KeySpec::SymmetricDefault, KeyUsageType::EncryptDecrypt)
            };
            DescribeKeyOutput::builder()
                .key_metadata(metadata(&id, spec, usage))
                .build()
        }),
        mock!(Client::get_key_policy)
            .then_output(|| GetKeyPolicyOutput::builder().policy("{}").build()),
        mock!(Client::get_key_rotation_status).then_output(|| {
            GetKeyRotationStatusOutput::builder()
                .key_rotation_enabled(true)
                .rotation_period_in_days(365)
                .build()
        }),
        mock!(Client::list_resource_tags).then_output(|| ListResourceTagsOutput::builder().build()),
    ]
}

#[tokio::test]
async fn keys_aliases_and_grants_are_read_across_pages() {
    let keys_page_1 = mock!(Client::list_keys)
        .match_requests(|r| r.marker().is_none())
        .then_output(|| {
            ListKeysOutput::builder()
                .keys(entry("k1"))
                .keys(entry("k2"))
                .truncated(true)
                .next_marker("m1")
                .build()
        });
    let keys_page_2 = mock!(Client::list_keys)
        .match_requests(|r| r.marker() == Some("m1"))
        .then_output(|| {
            ListKeysOutput::builder()
                .keys(entry("rsa3"))
                .truncated(false)
                .build()
        });
    let aliases_1 = mock!(Client::list_aliases)
        .match_requests(|r| r.marker().is_none())
        .then_output(|| {
            ListAliasesOutput::builder()
                .aliases(
                    AliasListEntry::builder()
                        .alias_name("alias/one")
                        .target_key_id("k1")
                        .build(),
                )
                .truncated(true)
                .next_marker("a1")
                .build()
        });
    let aliases_2 = mock!(Client::list_aliases)
        .match_requests(|r| r.marker() == Some("a1"))
        .then_output(|| {
            ListAliasesOutput::builder()
                .aliases(
                    AliasListEntry::builder()
                        .alias_name("alias/two")
                        .target_key_id("k1")
                        .build(),
                )
                .aliases(
                    AliasListEntry::builder()
                        .alias_name("alias/aws/ebs")
                        .target_key_id("aws-managed-not-listed")
                        .build(),
                )
                .build()
        });
    let grant = |id: &str| {
        GrantListEntry::builder()
            .grant_id(id)
            .grantee_principal("arn:aws:iam::111122223333:role/R")
            .operations(GrantOperation::Decrypt)
            .build()
    };
    let grants_1 = mock!(Client::list_grants)
        .match_requests(|r| r.marker().is_none())
        .then_output(move || {
            ListGrantsOutput::builder()
                .grants(grant("g1"))
                .truncated(true)
                .next_marker("g")
                .build()
        });
    let grants_2 = mock!(Client::list_grants)
        .match_requests(|r| r.marker() == Some("g"))
        .then_output(move || ListGrantsOutput::builder().grants(grant("g2")).build());
    let per_key = per_key_rules();
    let mut rules: Vec<&Rule> = vec![
        &keys_page_1,
        &keys_page_2,
        &aliases_1,
        &aliases_2,
        &grants_1,
        &grants_2,
    ];
    rules.extend(per_key.iter());
    let record = scanner()
        .read_region(&clients(&rules), "111122223333", "us-east-1".into())
        .await;

    assert_eq!(record.access, RegionAccess::Scanned);
    assert_eq!(record.keys.len(), 3, "both ListKeys pages");
    let k1 = record.keys.iter().find(|k| k.key_id == "k1").unwrap();
    assert_eq!(
        k1.aliases,
        vec!["alias/one", "alias/two"],
        "both ListAliases pages"
    );
    assert_eq!(
        k1.grants.as_ref().unwrap().len(),
        2,
        "both ListGrants pages"
    );
    assert_eq!(
        (aliases_1.num_calls(), aliases_2.num_calls()),
        (1, 1),
        "aliases once per region, not per key"
    );
    assert_eq!(per_key[0].num_calls(), 3, "DescribeKey once per key");
    // Rotation only where it applies: not for the RSA key.
    assert_eq!(per_key[2].num_calls(), 2);
    assert!(record.keys.iter().all(|k| k.errors.is_empty()));
}

#[tokio::test]
async fn opt_in_region_not_enabled_is_skipped_but_a_default_region_is_not_assessed() {
    let denied = mock!(Client::list_keys)
        .then_http_response(|| json_error(400, "UnrecognizedClientException"));
    let record = scanner()
        .read_region(&clients(&[&denied]), "111122223333", "af-south-1".into())
        .await;
    assert!(
        matches!(record.access, RegionAccess::Skipped { .. }),
        "{:?}",
        record.access
    );
    let record = scanner()
        .read_region(&clients(&[&denied]), "111122223333", "us-east-1".into())
        .await;
    match record.access {
        RegionAccess::NotAssessed { issue } => {
            assert_eq!(issue.operation, "KMS.ListKeys");
            assert_eq!(issue.code, "UnrecognizedClientException");
        }
        other => panic!("expected NOT_ASSESSED, got {other:?}"),
    }
}

#[tokio::test]
async fn a_denied_key_policy_is_recorded_on_the_key_and_the_rest_is_read() {
    let keys = mock!(Client::list_keys)
        .then_output(|| ListKeysOutput::builder().keys(entry("k1")).build());
    let aliases = mock!(Client::list_aliases).then_output(|| ListAliasesOutput::builder().build());
    let grants = mock!(Client::list_grants).then_output(|| ListGrantsOutput::builder().build());
    let denied = mock!(Client::get_key_policy)
        .then_http_response(|| json_error(400, "AccessDeniedException"));
    let per_key = per_key_rules();
    let rules: Vec<&Rule> = vec![
        &keys,
        &aliases,
        &grants,
        &denied,
        &per_key[0],
        &per_key[2],
        &per_key[3],
    ];
    let record = scanner()
        .read_region(&clients(&rules), "111122223333", "us-east-1".into())
        .await;
    let key = &record.keys[0];
    assert!(key.policy.is_none());
    let e = key
        .error_for("KMS.GetKeyPolicy")
        .expect("policy error recorded");
    assert_eq!(e.code, "AccessDeniedException");
    assert!(
        key.rotation.is_some()
            && key.grants.is_some()
            && key.tags.is_some()
            && key.metadata.is_some()
    );
    assert_eq!(record.keys_not_assessed(), 1);
}

fn tagged(id: &str, key: &str, value: &str) -> ResourceTagMapping {
    ResourceTagMapping::builder()
        .resource_arn(arn(id))
        .tags(TaggingTag::builder().key(key).value(value).build().unwrap())
        .build()
}

#[tokio::test]
async fn tags_come_from_the_tagging_api_across_pages_and_untagged_keys_have_none() {
    let keys = mock!(Client::list_keys).then_output(|| {
        ListKeysOutput::builder()
            .keys(entry("k1"))
            .keys(entry("k2"))
            .keys(entry("k3"))
            .build()
    });
    let aliases = mock!(Client::list_aliases).then_output(|| ListAliasesOutput::builder().build());
    let grants = mock!(Client::list_grants).then_output(|| ListGrantsOutput::builder().build());
    let per_key = per_key_rules();
    let rules: Vec<&Rule> = vec![
        &keys,
        &aliases,
        &grants,
        &per_key[0],
        &per_key[1],
        &per_key[2],
        &per_key[3],
    ];
    let page_1 = mock!(aws_sdk_resourcegroupstagging::Client::get_resources)
        .match_requests(|r| {
            r.pagination_token().is_none()
                && r.resource_type_filters() == ["kms:key"]
                && r.resources_per_page() == Some(100)
        })
        .then_output(|| {
            GetResourcesOutput::builder()
                .resource_tag_mapping_list(tagged("k1", "owner", "team-a"))
                .pagination_token("t1")
                .build()
        });
    let page_2 = mock!(aws_sdk_resourcegroupstagging::Client::get_resources)
        .match_requests(|r| r.pagination_token() == Some("t1"))
        .then_output(|| {
            GetResourcesOutput::builder()
                .resource_tag_mapping_list(tagged("k3", "env", "prod"))
                .pagination_token("")
                .build()
        });
    let record = scanner()
        .read_region(
            &clients_with_tagging(&rules, &[&page_1, &page_2]),
            "111122223333",
            "us-east-1".into(),
        )
        .await;
    let tags = |id: &str| {
        let key = record.keys.iter().find(|k| k.key_id == id).unwrap();
        assert!(key.errors.is_empty(), "{:?}", key.errors);
        key.tags_text(",")
    };
    assert_eq!(tags("k1").as_deref(), Some("owner=team-a"));
    assert_eq!(
        tags("k2").as_deref(),
        Some(""),
        "never tagged: read, and empty"
    );
    assert_eq!(tags("k3").as_deref(), Some("env=prod"));
    assert_eq!((page_1.num_calls(), page_2.num_calls()), (1, 1));
    assert_eq!(per_key[3].num_calls(), 0, "no ListResourceTags per key");
}

#[tokio::test]
async fn a_denied_tagging_api_falls_back_to_list_resource_tags_per_key() {
    let keys = mock!(Client::list_keys)
        .then_output(|| ListKeysOutput::builder().keys(entry("k1")).build());
    let aliases = mock!(Client::list_aliases).then_output(|| ListAliasesOutput::builder().build());
    let grants = mock!(Client::list_grants).then_output(|| ListGrantsOutput::builder().build());
    let tags = mock!(Client::list_resource_tags).then_output(|| {
        ListResourceTagsOutput::builder()
            .tags(
                aws_sdk_kms::types::Tag::builder()
                    .tag_key("owner")
                    .tag_value("team-b")
                    .build()
                    .unwrap(),
            )
            .build()
    });
    let per_key = per_key_rules();
    let rules: Vec<&Rule> = vec![
        &keys,
        &aliases,
        &grants,
        &tags,
        &per_key[0],
        &per_key[1],
        &per_key[2],
    ];
    let denied = mock!(aws_sdk_resourcegroupstagging::Client::get_resources)
        .then_http_response(|| json_error(400, "AccessDeniedException"));
    let record = scanner()
        .read_region(
            &clients_with_tagging(&rules, &[&denied]),
            "111122223333",
            "us-east-1".into(),
        )
        .await;
    let key = &record.keys[0];
    assert!(key.errors.is_empty(), "{:?}", key.errors);
    assert_eq!(key.tags_text(",").as_deref(), Some("owner=team-b"));
    assert_eq!(tags.num_calls(), 1);
}

#[tokio::test]
async fn throttling_is_retried_until_it_succeeds() {
    let keys = mock!(Client::list_keys)
        .sequence()
        .http_response(|| json_error(400, "ThrottlingException"))
        .times(2)
        .output(|| ListKeysOutput::builder().build())
        .build();
    let aliases = mock!(Client::list_aliases).then_output(|| ListAliasesOutput::builder().build());
    let record = scanner()
        .read_region(
            &clients(&[&keys, &aliases]),
            "111122223333",
            "us-east-1".into(),
        )
        .await;
    assert_eq!(record.access, RegionAccess::Scanned);
    assert_eq!(keys.num_calls(), 3);
}

/// ListRegions, asked by the caller for a member account (AccountId set) and read across its
/// pages, decides what is scanned: a region unknown to the built-in list is scanned, a disabled
/// one is SKIPPED at no call. Denied, the built-in list is used and the reason kept.
#[tokio::test]
async fn account_regions_come_from_list_regions_else_the_built_in_list() {
    use aws_sdk_account::operation::list_regions::ListRegionsOutput;
    use aws_sdk_account::types::{Region as AwsRegion, RegionOptStatus};
    let first = mock!(aws_sdk_account::Client::list_regions)
        .match_requests(|r| r.account_id() == Some("444455556666") && r.next_token().is_none())
        .then_output(|| {
            ListRegionsOutput::builder()
                .regions(
                    AwsRegion::builder()
                        .region_name("us-east-1")
                        .region_opt_status(RegionOptStatus::EnabledByDefault)
                        .build(),
                )
                .regions(
                    AwsRegion::builder()
                        .region_name("af-south-1")
                        .region_opt_status(RegionOptStatus::Disabled)
                        .build(),
                )
                .next_token("page-2")
                .build()
        });
    let second = mock!(aws_sdk_account::Client::list_regions)
        .match_requests(|r| r.next_token() == Some("page-2"))
        .then_output(|| {
            ListRegionsOutput::builder()
                .regions(
                    AwsRegion::builder()
                        .region_name("xx-future-1")
                        .region_opt_status(RegionOptStatus::Enabled)
                        .build(),
                )
                .build()
        });
    let mut s = scanner();
    s.accounts_api = mock_client!(aws_sdk_account, RuleMode::MatchAny, [&first, &second]);
    let (found, source) = s.account_regions("444455556666").await;
    assert_eq!(source, RegionSource::ListRegions);
    assert_eq!(found.scan, vec!["us-east-1", "xx-future-1"]);
    assert_eq!(found.not_enabled.len(), 1);
    assert_eq!(found.not_enabled[0].0, "af-south-1");
    assert_eq!(first.num_calls() + second.num_calls(), 2);

    // The caller's own account is asked without AccountId.
    let own = mock!(aws_sdk_account::Client::list_regions)
        .match_requests(|r| r.account_id().is_none())
        .then_output(|| ListRegionsOutput::builder().build());
    s.accounts_api = mock_client!(aws_sdk_account, RuleMode::MatchAny, [&own]);
    let (_, source) = s.account_regions("111122223333").await;
    assert_eq!(source, RegionSource::ListRegions);
    assert_eq!(own.num_calls(), 1);

    let denied = mock!(aws_sdk_account::Client::list_regions)
        .then_http_response(|| json_error(403, "AccessDeniedException"));
    s.accounts_api = mock_client!(aws_sdk_account, RuleMode::MatchAny, [&denied]);
    let (found, source) = s.account_regions("444455556666").await;
    assert_eq!(found.scan, partition_regions("aws"));
    match source {
        RegionSource::BuiltIn { reason, regions } => {
            assert!(reason.contains("Account.ListRegions"), "{reason}");
            assert!(reason.contains("AccessDenied"), "{reason}");
            assert_eq!(regions, partition_regions("aws").len());
        }
        other => panic!("expected the built-in list, got {other:?}"),
    }
}
