//! The pack as evidence: signing it with a KMS key (`--sign-with`) and `kmsaudit verify`; and how
//! calls reach AWS (`AwsAccess`, the `--ca-bundle` file, the STS endpoint errors name).

use std::path::Path;

use anyhow::Context;

use crate::{exit, usage, VerifyArgs};

/// Where AWS calls outside the scan go: the scan's own flags, or the environment's defaults.
#[derive(Default, Clone)]
pub(crate) struct AwsAccess {
    pub(crate) profile: Option<String>,
    pub(crate) region: Option<String>,
    pub(crate) endpoint_url: Option<String>,
}

impl AwsAccess {
    pub(crate) async fn config(&self) -> kmsaudit_scanner::SdkConfig {
        kmsaudit_scanner::load_base_config(
            self.profile.as_deref(),
            self.region.as_deref(),
            self.endpoint_url.as_deref(),
        )
        .await
    }
}

/// Runs `future` on a small runtime of its own, on a thread with a large stack: the SDK's
/// deserializer of Security Hub's findings nests deeply enough to overflow the main thread's
/// stack in a debug build.
pub(crate) fn block_on<T: Send>(
    future: impl std::future::Future<Output = T> + Send,
) -> anyhow::Result<T> {
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("kmsaudit-aws".into())
            .stack_size(64 << 20)
            .spawn_scoped(scope, move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .context("starting the async runtime")?;
                Ok(runtime.block_on(future))
            })
            .context("starting a thread for AWS calls")?
            .join()
            .map_err(|_| anyhow::anyhow!("the thread of AWS calls panicked"))?
    })
}

/// Signs the pack in `dir` with `key_arn`: KMS signs the statement naming manifest.json's
/// SHA-256, and SIGNATURE.json records it.
pub(crate) fn sign_pack(dir: &Path, key_arn: &str, aws: &AwsAccess) -> anyhow::Result<()> {
    let digest = kmsaudit_reporter::manifest_sha256(dir)
        .with_context(|| format!("reading {}", dir.join("manifest.json").display()))?;
    let message = kmsaudit_reporter::signed_message(&digest);
    let signed =
        block_on(async { kmsaudit_scanner::sign(&aws.config().await, key_arn, &message).await })?
            .context("KMS Sign")?;
    let record = kmsaudit_reporter::PackSignature::new(
        &digest,
        &signed.key_arn,
        &signed.algorithm,
        &signed.signature,
        &signed.public_key,
    );
    kmsaudit_reporter::write_signature(dir, &record).with_context(|| {
        format!(
            "writing {}",
            dir.join(kmsaudit_reporter::SIGNATURE_FILE).display()
        )
    })?;
    tracing::info!(key = %signed.key_arn, algorithm = %signed.algorithm, "evidence pack signed");
    Ok(())
}

/// `kmsaudit verify`: the files against SHA256SUMS and the manifest, then the signature.
pub(crate) fn verify(args: VerifyArgs) -> anyhow::Result<u8> {
    let dir = &args.dir;
    let mut problems = kmsaudit_reporter::verify_pack(dir).map_err(|e| usage(e.to_string()))?;
    let trusted_key = match (&args.public_key, &args.key_arn) {
        (Some(path), _) => {
            let bytes = std::fs::read(path).map_err(|e| {
                usage(format!(
                    "cannot read the public key {}: {e}",
                    path.display()
                ))
            })?;
            let der = kmsaudit_reporter::public_key_der(&bytes)
                .map_err(|e| usage(format!("{}: {e}", path.display())))?;
            Some(der)
        }
        (None, Some(arn)) => Some(block_on(async {
            kmsaudit_scanner::public_key(&AwsAccess::default().config().await, arn).await
        })??),
        (None, None) => None,
    };
    let mut signed_by = None;
    match (trusted_key, kmsaudit_reporter::read_signature(dir)) {
        (_, Err(e)) => problems.push(e),
        (Some(key), Ok(_)) => match kmsaudit_reporter::check_signature(dir, &key) {
            Ok(record) => {
                // The signer is the key that verified: its fingerprint, and its ARN only when
                // --key-arn fetched that key (SIGNATURE.json's own `key_arn` is a claim).
                let fingerprint = kmsaudit_reporter::public_key_fingerprint(&key);
                if let Some(arn) = args.key_arn.as_deref().filter(|a| *a != record.key_arn) {
                    problems.push(format!(
                        "{}: names the key {}, not {arn}",
                        kmsaudit_reporter::SIGNATURE_FILE,
                        kmsaudit_model::for_terminal(&record.key_arn)
                    ));
                } else {
                    let by = match args.key_arn.as_deref() {
                        Some(arn) => format!("{arn}, public key SHA-256 {fingerprint}"),
                        None => format!("the given public key, SHA-256 {fingerprint}"),
                    };
                    signed_by = Some(format!(
                        "signature valid ({} by {by})",
                        kmsaudit_model::for_terminal(&record.signing_algorithm)
                    ));
                }
            }
            Err(e) => problems.push(e),
        },
        (None, Ok(Some(record))) => {
            let digest = kmsaudit_reporter::manifest_sha256(dir).unwrap_or_default();
            if digest != record.manifest_sha256 {
                problems.push("manifest.json: changed since it was signed".into());
            }
            signed_by = Some(format!(
                "signature not checked (SIGNATURE.json names {}, unverified; give --public-key FILE or --key-arn ARN)",
                kmsaudit_model::for_terminal(&record.key_arn)
            ));
        }
        (None, Ok(None)) => signed_by = Some("not signed".into()),
    }
    if problems.is_empty() {
        out!(
            "{}: every file matches SHA256SUMS and manifest.json; {}",
            kmsaudit_model::for_terminal(&dir.display().to_string()),
            signed_by.unwrap_or_default()
        );
        return Ok(exit::OK);
    }
    for p in &problems {
        out!("{}", kmsaudit_model::for_terminal(p));
    }
    Ok(exit::TOOL_ERROR)
}

/// A CA bundle file's PEM certificates (`--ca-bundle`): unreadable, or holding none, is a usage
/// error.
pub(crate) fn read_ca_bundle(path: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    let pem = std::fs::read(path)
        .map_err(|e| crate::usage(format!("cannot read the CA bundle {}: {e}", path.display())))?;
    if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
        return Err(crate::usage(format!(
            "the CA bundle {} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            path.display()
        )));
    }
    Ok(pem)
}

/// The STS endpoint a scan's first call goes to, as the SDK picks it: the flag, then
/// `AWS_ENDPOINT_URL_STS`, then `AWS_ENDPOINT_URL`, else AWS's own for the region.
pub(crate) fn sts_endpoint(flag: Option<&str>) -> String {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    flag.map(str::to_string)
        .or_else(|| env("AWS_ENDPOINT_URL_STS"))
        .or_else(|| env("AWS_ENDPOINT_URL"))
        .unwrap_or_else(|| "AWS's regional STS endpoint".into())
}
