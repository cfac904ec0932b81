//! Signing an evidence pack's statement with an asymmetric KMS key (KMS Sign), and fetching a
//! key's public key for verification (KMS GetPublicKey).

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{KeySpec, MessageType, SigningAlgorithmSpec};
use aws_types::region::Region;
use aws_types::SdkConfig;

/// A signature made by KMS.
#[derive(Debug, Clone)]
pub struct KmsSignature {
    /// The key's ARN, as KMS names it.
    pub key_arn: String,
    /// The signing algorithm, e.g. `ECDSA_SHA_256`.
    pub algorithm: String,
    pub signature: Vec<u8>,
    /// The key's public key, DER SubjectPublicKeyInfo (what GetPublicKey returns).
    pub public_key: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    #[error("`{0}` is not a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID)")]
    NotAKeyArn(String),
    #[error("kms:GetPublicKey on {key}: {message}")]
    GetPublicKey { key: String, message: String },
    #[error("{key} cannot sign: its key usage is {usage}, not SIGN_VERIFY")]
    NotASigningKey { key: String, usage: String },
    #[error("{key} has key spec {spec}, which kmsaudit does not sign with (RSA or ECC NIST keys)")]
    UnsupportedSpec { key: String, spec: String },
    #[error("kms:Sign with {key}: {message}")]
    Sign { key: String, message: String },
}

/// The algorithm kmsaudit signs with for a key spec: ECDSA with the curve's hash, or RSA
/// PKCS #1 v1.5 with SHA-256 (deterministic, and verifiable by every common library).
fn algorithm_for(spec: &KeySpec) -> Option<SigningAlgorithmSpec> {
    Some(match spec {
        KeySpec::EccNistP256 => SigningAlgorithmSpec::EcdsaSha256,
        KeySpec::EccNistP384 => SigningAlgorithmSpec::EcdsaSha384,
        KeySpec::EccNistP521 => SigningAlgorithmSpec::EcdsaSha512,
        KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096 => {
            SigningAlgorithmSpec::RsassaPkcs1V15Sha256
        }
        _ => return None,
    })
}

fn kms_client(base: &SdkConfig, key_arn: &str) -> Result<aws_sdk_kms::Client, SigningError> {
    let region = key_arn
        .split(':')
        .nth(3)
        .filter(|r| key_arn.starts_with("arn:") && !r.is_empty())
        .ok_or_else(|| SigningError::NotAKeyArn(key_arn.to_string()))?;
    let config = aws_sdk_kms::config::Builder::from(base)
        .region(Region::new(region.to_string()))
        .build();
    Ok(aws_sdk_kms::Client::from_conf(config))
}

/// The key's public key (DER SubjectPublicKeyInfo), its spec, and whether it can sign.
pub async fn public_key(base: &SdkConfig, key_arn: &str) -> Result<Vec<u8>, SigningError> {
    Ok(get_public_key(&kms_client(base, key_arn)?, key_arn)
        .await?
        .0)
}

async fn get_public_key(
    client: &aws_sdk_kms::Client,
    key_arn: &str,
) -> Result<(Vec<u8>, KeySpec), SigningError> {
    let out = client
        .get_public_key()
        .key_id(key_arn)
        .send()
        .await
        .map_err(|e| SigningError::GetPublicKey {
            key: key_arn.to_string(),
            message: crate::classify::issue("KMS.GetPublicKey", &e).to_string(),
        })?;
    let usage = out.key_usage().map(|u| u.as_str().to_string());
    if usage.as_deref() != Some("SIGN_VERIFY") {
        return Err(SigningError::NotASigningKey {
            key: key_arn.to_string(),
            usage: usage.unwrap_or_else(|| "unknown".into()),
        });
    }
    // KeySpec, or the deprecated CustomerMasterKeySpec that older endpoints answer with alone.
    #[allow(deprecated)]
    let spec = out
        .key_spec()
        .cloned()
        .or_else(|| {
            out.customer_master_key_spec()
                .map(|s| KeySpec::from(s.as_str()))
        })
        .unwrap_or(KeySpec::SymmetricDefault);
    let der = out
        .public_key()
        .map(|b| b.as_ref().to_vec())
        .unwrap_or_default();
    Ok((der, spec))
}

/// Signs `message` (at most 4 KB: KMS signs RAW messages up to 4,096 bytes, hashing them
/// itself) with the key at `key_arn`, in the key's own region.
pub async fn sign(
    base: &SdkConfig,
    key_arn: &str,
    message: &[u8],
) -> Result<KmsSignature, SigningError> {
    let client = kms_client(base, key_arn)?;
    let (public_key, spec) = get_public_key(&client, key_arn).await?;
    let algorithm = algorithm_for(&spec).ok_or_else(|| SigningError::UnsupportedSpec {
        key: key_arn.to_string(),
        spec: spec.as_str().to_string(),
    })?;
    let out = client
        .sign()
        .key_id(key_arn)
        .message(Blob::new(message))
        .message_type(MessageType::Raw)
        .signing_algorithm(algorithm.clone())
        .send()
        .await
        .map_err(|e| SigningError::Sign {
            key: key_arn.to_string(),
            message: crate::classify::issue("KMS.Sign", &e).to_string(),
        })?;
    Ok(KmsSignature {
        key_arn: out.key_id().unwrap_or(key_arn).to_string(),
        algorithm: out
            .signing_algorithm()
            .unwrap_or(&algorithm)
            .as_str()
            .to_string(),
        signature: out
            .signature()
            .map(|b| b.as_ref().to_vec())
            .unwrap_or_default(),
        public_key,
    })
}
