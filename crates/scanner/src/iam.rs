//! IAM: each account's users, groups, roles and customer managed policies from
//! `GetAccountAuthorizationDetails` (read across pages, 1,000 items a page), and the AWS managed
//! policies they attach, fetched once per scan (`GetPolicy`, `GetPolicyVersion`). Documents are
//! kept to the statements that can decide access to a KMS key (see [`relevant_statements`]).

use std::collections::BTreeSet;
use std::sync::Arc;

use aws_sdk_iam::types::EntityType;
use kmsaudit_model::{
    IamGroup, IamPrincipal, IamPrincipalKind, IamRecord, InlinePolicy, ManagedPolicy,
};

use crate::classify::issue;
use crate::{Scanner, SdkConfig};

/// Items per GetAccountAuthorizationDetails page (the API's maximum).
const PAGE_ITEMS: i32 = 1000;

pub(crate) fn client(config: &SdkConfig, counter: &crate::CallCounter) -> aws_sdk_iam::Client {
    aws_sdk_iam::Client::from_conf(
        aws_sdk_iam::config::Builder::from(config)
            .interceptor(counter.clone())
            .build(),
    )
}

impl Scanner {
    /// After the accounts: the AWS managed policies they attach, once each.
    pub(crate) async fn read_attached_aws_managed(
        &self,
        accounts: &[kmsaudit_model::AccountRecord],
    ) -> Vec<ManagedPolicy> {
        let mut arns = BTreeSet::new();
        for iam in accounts.iter().filter_map(|a| a.iam.as_ref()) {
            let attached = iam
                .principals
                .iter()
                .flat_map(|p| p.attached_policies.iter().chain(&p.boundary))
                .chain(iam.groups.iter().flat_map(|g| &g.attached_policies));
            arns.extend(
                attached
                    .filter(|arn| arn.contains(":iam::aws:policy/"))
                    .cloned(),
            );
        }
        self.read_aws_managed(arns).await
    }

    /// One account's IAM. A failed page is recorded on the record (what was read before it is
    /// kept, the evaluator then answers NOT_ASSESSED for what this account decides).
    pub(crate) async fn read_iam(&self, config: &SdkConfig, account: &str) -> IamRecord {
        read_iam_with(&client(config, &self.counter), account).await
    }
}

/// One account's IAM with this client (see [`Scanner::read_iam`]).
async fn read_iam_with(iam: &aws_sdk_iam::Client, account: &str) -> IamRecord {
    let mut pages = iam
        .get_account_authorization_details()
        .filter(EntityType::User)
        .filter(EntityType::Role)
        .filter(EntityType::Group)
        .filter(EntityType::LocalManagedPolicy)
        .max_items(PAGE_ITEMS)
        .into_paginator()
        .send();
    let mut record = IamRecord::default();
    while let Some(page) = pages.next().await {
        let page = match page {
            Ok(p) => p,
            Err(e) => {
                let i = issue("IAM.GetAccountAuthorizationDetails", &e);
                tracing::warn!(account, error = %i, "IAM not read; effective access through this account will be NOT_ASSESSED");
                record.errors.push(i);
                break;
            }
        };
        for u in page.user_detail_list() {
            record.principals.push(IamPrincipal {
                arn: u.arn().unwrap_or_default().to_string(),
                kind: IamPrincipalKind::User,
                inline_policies: inline(u.user_policy_list()),
                attached_policies: attached(u.attached_managed_policies()),
                groups: u.group_list().to_vec(),
                boundary: u
                    .permissions_boundary()
                    .and_then(|b| b.permissions_boundary_arn())
                    .map(str::to_string),
                trust_policy: None,
            });
        }
        for r in page.role_detail_list() {
            record.principals.push(IamPrincipal {
                arn: r.arn().unwrap_or_default().to_string(),
                kind: IamPrincipalKind::Role,
                inline_policies: inline(r.role_policy_list()),
                attached_policies: attached(r.attached_managed_policies()),
                groups: vec![],
                boundary: r
                    .permissions_boundary()
                    .and_then(|b| b.permissions_boundary_arn())
                    .map(str::to_string),
                // Trust policies are kept whole: every statement of one can decide who
                // assumes the role.
                trust_policy: r
                    .assume_role_policy_document()
                    .map(|d| Arc::from(decoded(d).as_str())),
            });
        }
        for g in page.group_detail_list() {
            record.groups.push(IamGroup {
                name: g.group_name().unwrap_or_default().to_string(),
                arn: g.arn().unwrap_or_default().to_string(),
                inline_policies: inline(g.group_policy_list()),
                attached_policies: attached(g.attached_managed_policies()),
            });
        }
        for p in page.policies() {
            let default = p
                .policy_version_list()
                .iter()
                .find(|v| v.is_default_version())
                .and_then(|v| v.document());
            record.managed_policies.push(ManagedPolicy {
                arn: p.arn().unwrap_or_default().to_string(),
                name: p.policy_name().unwrap_or_default().to_string(),
                document: Arc::from(relevant_statements(&decoded(default.unwrap_or("")))),
            });
        }
    }
    record.principals.sort_by(|a, b| a.arn.cmp(&b.arn));
    record.groups.sort_by(|a, b| a.name.cmp(&b.name));
    record.managed_policies.sort_by(|a, b| a.arn.cmp(&b.arn));
    record
}

impl Scanner {
    /// The AWS managed policies any account attaches, each read once with the caller's
    /// credentials. One that cannot be read is left out: the evaluator then names it as
    /// unread and answers NOT_ASSESSED where it could matter.
    pub(crate) async fn read_aws_managed(&self, arns: BTreeSet<String>) -> Vec<ManagedPolicy> {
        let iam = client(&self.base, &self.counter);
        let mut out = vec![];
        for arn in arns {
            let policy = match iam.get_policy().policy_arn(&arn).send().await {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(policy = %arn, error = %issue("IAM.GetPolicy", &e), "AWS managed policy not read");
                    continue;
                }
            };
            let Some(version) = policy.policy().and_then(|p| p.default_version_id()) else {
                continue;
            };
            let name = policy
                .policy()
                .and_then(|p| p.policy_name())
                .unwrap_or_default()
                .to_string();
            match iam
                .get_policy_version()
                .policy_arn(&arn)
                .version_id(version)
                .send()
                .await
            {
                Ok(v) => {
                    let document = v
                        .policy_version()
                        .and_then(|v| v.document())
                        .unwrap_or_default();
                    out.push(ManagedPolicy {
                        arn,
                        name,
                        document: Arc::from(relevant_statements(&decoded(document))),
                    });
                }
                Err(e) => {
                    tracing::warn!(policy = %arn, error = %issue("IAM.GetPolicyVersion", &e), "AWS managed policy not read");
                }
            }
        }
        out
    }
}

fn inline(list: &[aws_sdk_iam::types::PolicyDetail]) -> Vec<InlinePolicy> {
    list.iter()
        .map(|p| InlinePolicy {
            name: p.policy_name().unwrap_or_default().to_string(),
            document: Arc::from(relevant_statements(&decoded(
                p.policy_document().unwrap_or_default(),
            ))),
        })
        .collect()
}

fn attached(list: &[aws_sdk_iam::types::AttachedPolicy]) -> Vec<String> {
    list.iter()
        .filter_map(|p| p.policy_arn().map(str::to_string))
        .collect()
}

/// IAM returns policy documents URL-encoded (RFC 3986); a document that already reads as JSON
/// is taken as it is.
pub(crate) fn decoded(document: &str) -> String {
    if document.trim_start().starts_with('{') {
        return document.to_string();
    }
    percent_encoding::percent_decode_str(document)
        .decode_utf8_lossy()
        .into_owned()
}

/// The document with only the statements that can match a `kms:` or `sts:` action (an
/// `Action` whose service part matches `kms` or `sts`, or any `NotAction`): the rest cannot
/// decide access to a key or a role. A document that does not parse is kept whole, for the
/// evaluator to report.
pub(crate) fn relevant_statements(document: &str) -> String {
    let Ok(serde_json::Value::Object(mut doc)) =
        serde_json::from_str::<serde_json::Value>(document)
    else {
        return document.to_string();
    };
    let keep = |st: &serde_json::Value| match (st.get("Action"), st.get("NotAction")) {
        (Some(a), None) => patterns(a).iter().any(|p| can_match_kms_or_sts(p)),
        _ => true,
    };
    match doc.get_mut("Statement") {
        Some(serde_json::Value::Array(list)) => {
            list.retain(keep);
            if list.is_empty() {
                // No statement is left: the policy grants nothing to a key. Keep a valid
                // document that says so.
                return r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"kms:none","Resource":"*"}]}"#.into();
            }
        }
        Some(st @ serde_json::Value::Object(_)) if !keep(st) => {
            return r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"kms:none","Resource":"*"}]}"#.into();
        }
        _ => {}
    }
    serde_json::Value::Object(doc).to_string()
}

fn patterns(v: &serde_json::Value) -> Vec<&str> {
    match v {
        serde_json::Value::String(s) => vec![s.as_str()],
        serde_json::Value::Array(items) => items.iter().filter_map(|x| x.as_str()).collect(),
        _ => vec![""],
    }
}

/// Whether an action pattern can match some `kms:` or `sts:` action: its service part (before
/// the colon, all of it for `*`) matches `kms` or `sts` as an IAM wildcard.
fn can_match_kms_or_sts(pattern: &str) -> bool {
    let service = pattern.split(':').next().unwrap_or("").to_ascii_lowercase();
    if !pattern.contains(':') {
        // `*` (or something IAM does not read: kept, to be safe).
        return true;
    }
    ["kms", "sts"].iter().any(|s| glob_match(&service, s))
}

/// IAM's `*` and `?` over a short service name.
fn glob_match(pattern: &str, text: &str) -> bool {
    match (pattern.chars().next(), text.chars().next()) {
        (None, None) => true,
        (Some('*'), _) => {
            glob_match(&pattern[1..], text)
                || (!text.is_empty()
                    && glob_match(pattern, &text[text.chars().next().unwrap().len_utf8()..]))
        }
        (Some('?'), Some(c)) => glob_match(&pattern[1..], &text[c.len_utf8()..]),
        (Some(p), Some(c)) if p == c => glob_match(&pattern[p.len_utf8()..], &text[c.len_utf8()..]),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_iam::operation::get_account_authorization_details::GetAccountAuthorizationDetailsOutput;
    use aws_sdk_iam::types::{
        ManagedPolicyDetail, PolicyDetail, PolicyVersion, RoleDetail, UserDetail,
    };
    use aws_smithy_mocks::{mock, mock_client, RuleMode};

    fn role(name: &str) -> RoleDetail {
        RoleDetail::builder()
            .arn(format!("arn:aws:iam::111122223333:role/{name}"))
            .role_name(name)
            .assume_role_policy_document("%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%5D%7D")
            .role_policy_list(
                PolicyDetail::builder()
                    .policy_name("use")
                    .policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*"},{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#)
                    .build(),
            )
            .build()
    }

    #[tokio::test]
    async fn every_page_is_read_and_a_failed_page_is_recorded() {
        let first = mock!(aws_sdk_iam::Client::get_account_authorization_details)
            .match_requests(|r| r.marker().is_none() && r.max_items() == Some(PAGE_ITEMS))
            .then_output(|| {
                GetAccountAuthorizationDetailsOutput::builder()
                    .role_detail_list(role("A"))
                    .is_truncated(true)
                    .marker("m1")
                    .build()
            });
        let second = mock!(aws_sdk_iam::Client::get_account_authorization_details)
            .match_requests(|r| r.marker() == Some("m1"))
            .then_output(|| {
                GetAccountAuthorizationDetailsOutput::builder()
                    .user_detail_list(
                        UserDetail::builder()
                            .arn("arn:aws:iam::111122223333:user/u")
                            .user_name("u")
                            .group_list("G")
                            .build(),
                    )
                    .policies(
                        ManagedPolicyDetail::builder()
                            .arn("arn:aws:iam::111122223333:policy/P")
                            .policy_name("P")
                            .policy_version_list(
                                PolicyVersion::builder()
                                    .is_default_version(true)
                                    .document("%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22kms%3A%2A%22%2C%22Resource%22%3A%22%2A%22%7D%7D")
                                    .build(),
                            )
                            .build(),
                    )
                    .is_truncated(false)
                    .build()
            });
        let iam = mock_client!(aws_sdk_iam, RuleMode::MatchAny, &[&first, &second]);
        let record = read_iam_with(&iam, "111122223333").await;
        assert!(record.errors.is_empty(), "{:?}", record.errors);
        assert_eq!(record.principals.len(), 2);
        let role = &record.principals[0];
        assert_eq!(role.kind, IamPrincipalKind::Role);
        assert!(role.trust_policy.as_deref().unwrap().starts_with('{'));
        // Only the statement that can reach a key is kept.
        assert!(role.inline_policies[0].document.contains("kms:Decrypt"));
        assert!(!role.inline_policies[0].document.contains("s3:*"));
        assert_eq!(record.principals[1].groups, ["G"]);
        assert!(record.managed_policies[0].document.contains("kms:*"));
        assert_eq!(first.num_calls() + second.num_calls(), 2);

        let denied = mock!(aws_sdk_iam::Client::get_account_authorization_details)
            .match_requests(|r| r.marker() == Some("m1"))
            .then_http_response(|| {
                aws_smithy_runtime_api::client::orchestrator::HttpResponse::new(
                    aws_smithy_runtime_api::http::StatusCode::try_from(403).unwrap(),
                    aws_smithy_types::body::SdkBody::from(
                        "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>no</Message></Error></ErrorResponse>",
                    ),
                )
            });
        let iam = mock_client!(aws_sdk_iam, RuleMode::MatchAny, &[&first, &denied]);
        let record = read_iam_with(&iam, "111122223333").await;
        assert_eq!(record.errors.len(), 1, "{:?}", record.errors);
        assert_eq!(record.errors[0].code, "AccessDenied");
        assert_eq!(
            record.principals.len(),
            1,
            "what was read before the failure is kept"
        );
    }

    #[test]
    fn documents_are_url_decoded_once() {
        assert_eq!(decoded("%7B%22a%22%3A1%7D"), r#"{"a":1}"#);
        assert_eq!(decoded(r#"{"a":"%7B"}"#), r#"{"a":"%7B"}"#);
    }

    #[test]
    fn only_statements_that_can_reach_a_key_or_a_role_are_kept() {
        let doc = r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Action":"s3:*","Resource":"*"},
            {"Effect":"Allow","Action":["ec2:Describe*","kms:Decrypt"],"Resource":"*"},
            {"Effect":"Allow","Action":"k*:*","Resource":"*"},
            {"Effect":"Allow","Action":"st?:AssumeRole","Resource":"*"},
            {"Effect":"Deny","NotAction":"s3:*","Resource":"*"},
            {"Effect":"Allow","Action":"*","Resource":"*"},
            {"Effect":"Allow","Action":"kinesis:*","Resource":"*"}]}"#;
        let kept: serde_json::Value = serde_json::from_str(&relevant_statements(doc)).unwrap();
        let list = kept["Statement"].as_array().unwrap();
        assert_eq!(list.len(), 5, "{list:?}");
        assert!(!list
            .iter()
            .any(|s| s["Action"] == "s3:*" || s["Action"] == "kinesis:*"));
        let none = relevant_statements(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}"#,
        );
        assert!(none.contains("kms:none"), "{none}");
        assert_eq!(relevant_statements("not json"), "not json");
    }
}
