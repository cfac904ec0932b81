//! Seeds what decides effective access besides the keys: OUs, IAM users and roles with their
//! policies, SCPs and RCPs.

use std::collections::BTreeMap;

use anyhow::Context;
use aws_config::SdkConfig;
use aws_sdk_organizations::types::PolicyType;

use crate::fixture::Fixture;
use crate::seed::Seeded;

/// A role's trust policy when the fixture names none: its own account.
const OWN_ACCOUNT_TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::${self}:root"},"Action":"sts:AssumeRole"}]}"#;

pub async fn seed_access(
    fixture: &Fixture,
    seeded: &Seeded,
    base: &SdkConfig,
    configs: &BTreeMap<String, SdkConfig>,
) -> anyhow::Result<()> {
    let orgs = aws_sdk_organizations::Client::new(base);
    let roots = orgs.list_roots().send().await.context("ListRoots")?;
    let root = roots
        .roots()
        .first()
        .and_then(|r| r.id())
        .context("no root")?
        .to_string();
    for t in [
        PolicyType::ServiceControlPolicy,
        PolicyType::ResourceControlPolicy,
    ] {
        // Already enabled is fine.
        let _ = orgs
            .enable_policy_type()
            .root_id(&root)
            .policy_type(t)
            .send()
            .await;
    }
    let mut targets: BTreeMap<String, String> = BTreeMap::from([("root".into(), root.clone())]);
    for (name, id) in &seeded.accounts {
        targets.insert(name.clone(), id.clone());
    }
    for ou in &fixture.ous {
        let created = orgs
            .create_organizational_unit()
            .parent_id(&root)
            .name(&ou.name)
            .send()
            .await
            .with_context(|| format!("CreateOrganizationalUnit {}", ou.name))?;
        let id = created
            .organizational_unit()
            .and_then(|o| o.id())
            .context("no OU id")?
            .to_string();
        for account in &ou.accounts {
            orgs.move_account()
                .account_id(seeded.account(account)?)
                .source_parent_id(&root)
                .destination_parent_id(&id)
                .send()
                .await
                .with_context(|| format!("MoveAccount {account} into {}", ou.name))?;
        }
        targets.insert(ou.name.clone(), id);
    }
    for def in &fixture.iam {
        let account = seeded.account(&def.account)?.to_string();
        let iam = aws_sdk_iam::Client::new(&configs[&def.account]);
        let doc = |text: &str| seeded.substitute(text, &account);
        match def.kind.as_str() {
            "role" => {
                iam.create_role()
                    .role_name(&def.name)
                    .assume_role_policy_document(doc(def
                        .trust
                        .as_deref()
                        .unwrap_or(OWN_ACCOUNT_TRUST)))
                    .send()
                    .await
                    .with_context(|| format!("CreateRole {}", def.name))?;
                for (i, p) in def.policies.iter().enumerate() {
                    iam.put_role_policy()
                        .role_name(&def.name)
                        .policy_name(format!("inline{i}"))
                        .policy_document(doc(p))
                        .send()
                        .await
                        .with_context(|| format!("PutRolePolicy on {}", def.name))?;
                }
                for arn in &def.managed {
                    iam.attach_role_policy()
                        .role_name(&def.name)
                        .policy_arn(doc(arn))
                        .send()
                        .await
                        .with_context(|| format!("AttachRolePolicy {arn} to {}", def.name))?;
                }
            }
            "user" => {
                iam.create_user()
                    .user_name(&def.name)
                    .send()
                    .await
                    .with_context(|| format!("CreateUser {}", def.name))?;
                for (i, p) in def.policies.iter().enumerate() {
                    iam.put_user_policy()
                        .user_name(&def.name)
                        .policy_name(format!("inline{i}"))
                        .policy_document(doc(p))
                        .send()
                        .await
                        .with_context(|| format!("PutUserPolicy on {}", def.name))?;
                }
                for arn in &def.managed {
                    iam.attach_user_policy()
                        .user_name(&def.name)
                        .policy_arn(doc(arn))
                        .send()
                        .await
                        .with_context(|| format!("AttachUserPolicy {arn} to {}", def.name))?;
                }
            }
            other => anyhow::bail!("IAM identity {}: unknown kind {other}", def.name),
        }
    }
    for (list, kind) in [
        (&fixture.scps, PolicyType::ServiceControlPolicy),
        (&fixture.rcps, PolicyType::ResourceControlPolicy),
    ] {
        for def in list {
            let created = orgs
                .create_policy()
                .name(&def.name)
                .description(&def.name)
                .content(seeded.substitute(&def.document, crate::fixture::MANAGEMENT_ACCOUNT))
                .r#type(kind.clone())
                .send()
                .await
                .with_context(|| format!("CreatePolicy {}", def.name))?;
            let id = created
                .policy()
                .and_then(|p| p.policy_summary())
                .and_then(|s| s.id())
                .context("no policy id")?
                .to_string();
            for t in &def.targets {
                let target = targets
                    .get(t)
                    .with_context(|| format!("policy {} names unknown target {t}", def.name))?;
                orgs.attach_policy()
                    .policy_id(&id)
                    .target_id(target)
                    .send()
                    .await
                    .with_context(|| format!("AttachPolicy {} to {t}", def.name))?;
            }
        }
    }
    Ok(())
}
