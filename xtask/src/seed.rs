//! Builds a fixture's organization in moto with the Rust SDK.

use std::collections::BTreeMap;

use anyhow::Context;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use aws_sdk_kms::types::{
    GrantConstraints, GrantOperation, KeySpec, KeyUsageType, OriginType, Tag,
};

use crate::fixture::{Fixture, MANAGEMENT_ACCOUNT};

/// What seeding created: real ids for the fixture's names.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Seeded {
    pub org_id: String,
    /// Account name → id.
    pub accounts: BTreeMap<String, String>,
    /// Key name → (ARN, key id).
    pub keys: BTreeMap<String, (String, String)>,
    /// An account outside the organization (the scan never sees it) for the evidence tests:
    /// its credentials and its signing keys.
    pub evidence: Option<EvidenceAccount>,
}

/// See [`Seeded::evidence`].
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct EvidenceAccount {
    pub account_id: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    /// Key spec (`ECC_NIST_P256`, `RSA_2048`) → (ARN, public key DER in base64).
    pub signing_keys: BTreeMap<String, (String, String)>,
}

/// The account that holds the evidence tests' signing keys.
pub const EVIDENCE_ACCOUNT: &str = "999988887777";

/// AssumeRole of `role_arn`: its credentials, and `base` with them.
async fn assume(
    base: &SdkConfig,
    role_arn: &str,
) -> anyhow::Result<(aws_sdk_sts::types::Credentials, SdkConfig)> {
    let out = aws_sdk_sts::Client::new(base)
        .assume_role()
        .role_arn(role_arn)
        .role_session_name("xtask-seed")
        .send()
        .await
        .with_context(|| format!("AssumeRole {role_arn}"))?;
    let c = out.credentials().context("no credentials")?.clone();
    let config = base
        .to_builder()
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_string()),
            None,
            "xtask",
        )))
        .build();
    Ok((c, config))
}

/// Signing keys in an account outside the organization, in eu-west-1.
async fn seed_evidence_account(base: &SdkConfig) -> anyhow::Result<EvidenceAccount> {
    use base64::Engine as _;
    let (c, config) = assume(
        base,
        &format!("arn:aws:iam::{EVIDENCE_ACCOUNT}:role/Evidence"),
    )
    .await?;
    let config = config.to_builder().region(Region::new("eu-west-1")).build();
    let mut account = EvidenceAccount {
        account_id: EVIDENCE_ACCOUNT.into(),
        access_key_id: c.access_key_id().into(),
        secret_access_key: c.secret_access_key().into(),
        session_token: c.session_token().into(),
        signing_keys: BTreeMap::new(),
    };
    let kms = aws_sdk_kms::Client::new(&config);
    for spec in ["ECC_NIST_P256", "RSA_2048"] {
        let created = kms
            .create_key()
            .key_spec(KeySpec::from(spec))
            .key_usage(KeyUsageType::SignVerify)
            .description("kmsaudit evidence signing")
            .send()
            .await
            .with_context(|| format!("CreateKey {spec} for signing"))?;
        let arn = created
            .key_metadata()
            .and_then(|m| m.arn())
            .context("no key ARN")?
            .to_string();
        let public = kms
            .get_public_key()
            .key_id(&arn)
            .send()
            .await
            .context("GetPublicKey")?;
        let der = public
            .public_key()
            .context("no public key")?
            .as_ref()
            .to_vec();
        account.signing_keys.insert(
            spec.to_string(),
            (arn, base64::engine::general_purpose::STANDARD.encode(der)),
        );
    }
    Ok(account)
}

impl Seeded {
    pub fn account(&self, name: &str) -> anyhow::Result<&str> {
        self.accounts
            .get(name)
            .map(String::as_str)
            .with_context(|| format!("unknown account `{name}`"))
    }

    /// Replaces `${account:NAME}`, `${self}`, `${org_id}` and `${management}`.
    pub fn substitute(&self, text: &str, self_account: &str) -> String {
        let mut out = text
            .replace("${self}", self_account)
            .replace("${org_id}", &self.org_id)
            .replace("${management}", MANAGEMENT_ACCOUNT);
        for (name, id) in &self.accounts {
            out = out.replace(&format!("${{account:{name}}}"), id);
        }
        out
    }
}

/// Dummy credentials: moto maps them to its default account (the management account).
pub fn base_config(endpoint: &str, region: &str) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .endpoint_url(endpoint)
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "testing", "testing", None, None, "xtask",
        )))
        .build()
}

pub async fn seed(fixture: &Fixture, moto: &str) -> anyhow::Result<Seeded> {
    let base = base_config(moto, "us-east-1");
    let orgs = aws_sdk_organizations::Client::new(&base);
    let org = orgs
        .create_organization()
        .feature_set(aws_sdk_organizations::types::OrganizationFeatureSet::All)
        .send()
        .await
        .context("CreateOrganization")?;
    let mut seeded = Seeded {
        org_id: org
            .organization()
            .and_then(|o| o.id())
            .unwrap_or_default()
            .to_string(),
        ..Default::default()
    };
    for account in &fixture.accounts {
        if account.management {
            seeded
                .accounts
                .insert(account.name.clone(), MANAGEMENT_ACCOUNT.to_string());
            continue;
        }
        let created = orgs
            .create_account()
            .account_name(&account.name)
            .email(format!("{}@example.com", account.name))
            .send()
            .await
            .with_context(|| format!("CreateAccount {}", account.name))?;
        let id = created
            .create_account_status()
            .and_then(|s| s.account_id())
            .context("CreateAccount returned no id")?
            .to_string();
        seeded.accounts.insert(account.name.clone(), id);
    }
    let mut configs: BTreeMap<String, SdkConfig> = BTreeMap::new();
    for (name, id) in &seeded.accounts {
        let config = if id == MANAGEMENT_ACCOUNT {
            base.clone()
        } else {
            let role = format!("arn:aws:iam::{id}:role/OrganizationAccountAccessRole");
            assume(&base, &role)
                .await
                .with_context(|| format!("seeding account {name}"))?
                .1
        };
        configs.insert(name.clone(), config);
    }
    crate::seed_iam::seed_access(fixture, &seeded, &base, &configs)
        .await
        .context("seeding IAM, OUs, SCPs and RCPs")?;
    for key in &fixture.keys {
        let account_id = seeded.account(&key.account)?.to_string();
        let config = configs[&key.account]
            .to_builder()
            .region(Region::new(key.region.clone()))
            .build();
        let kms = aws_sdk_kms::Client::new(&config);
        let mut policy = fixture.policies[&key.policy].clone();
        for (name, statements) in &fixture.statements {
            policy = policy.replace(&format!("${{statements:{name}}}"), statements);
        }
        let policy = seeded.substitute(&policy, &account_id);
        let mut create = kms
            .create_key()
            .policy(policy)
            .description(&key.description)
            .key_spec(KeySpec::from(key.spec.as_str()))
            .key_usage(KeyUsageType::from(key.usage.as_str()))
            .origin(OriginType::from(key.origin.as_str()));
        if key.multi_region {
            create = create.multi_region(true);
        }
        for (k, v) in &key.tags {
            create = create.tags(Tag::builder().tag_key(k).tag_value(v).build()?);
        }
        let created = create
            .send()
            .await
            .with_context(|| format!("CreateKey {}", key.name))?;
        let meta = created.key_metadata().context("no key metadata")?;
        let key_id = meta.key_id().to_string();
        let arn = meta.arn().unwrap_or_default().to_string();
        for alias in &key.aliases {
            kms.create_alias()
                .alias_name(alias)
                .target_key_id(&key_id)
                .send()
                .await
                .with_context(|| format!("CreateAlias {alias}"))?;
        }
        if key.rotation {
            kms.enable_key_rotation()
                .key_id(&key_id)
                .send()
                .await
                .with_context(|| format!("EnableKeyRotation {}", key.name))?;
        }
        for g in &key.grants {
            let mut grant = kms
                .create_grant()
                .key_id(&key_id)
                .grantee_principal(seeded.substitute(&g.grantee, &account_id));
            for op in &g.operations {
                grant = grant.operations(GrantOperation::from(op.as_str()));
            }
            if let Some(r) = &g.retiring {
                grant = grant.retiring_principal(seeded.substitute(r, &account_id));
            }
            if let Some(n) = &g.name {
                grant = grant.name(n);
            }
            if !g.encryption_context_subset.is_empty() {
                grant = grant.constraints(
                    GrantConstraints::builder()
                        .set_encryption_context_subset(Some(
                            g.encryption_context_subset.clone().into_iter().collect(),
                        ))
                        .build(),
                );
            }
            grant
                .send()
                .await
                .with_context(|| format!("CreateGrant on {}", key.name))?;
        }
        match key.state.as_str() {
            "Enabled" => {}
            "Disabled" => {
                kms.disable_key().key_id(&key_id).send().await?;
            }
            "PendingDeletion" => {
                kms.schedule_key_deletion()
                    .key_id(&key_id)
                    .pending_window_in_days(7)
                    .send()
                    .await?;
            }
            other => anyhow::bail!("key {}: unknown state {other}", key.name),
        }
        seeded.keys.insert(key.name.clone(), (arn, key_id));
    }
    crate::seed_monitoring::seed(&fixture.monitoring, &seeded, &seeded.keys, &configs, moto)
        .await
        .context("seeding trails, metric filters, topics and EventBridge rules")?;
    seeded.evidence = Some(seed_evidence_account(&base).await?);
    for account in fixture.accounts.iter().filter(|a| a.suspended) {
        orgs.close_account()
            .account_id(seeded.account(&account.name)?)
            .send()
            .await
            .with_context(|| format!("CloseAccount {}", account.name))?;
    }
    Ok(seeded)
}
