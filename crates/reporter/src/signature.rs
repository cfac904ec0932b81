//! A pack's signature: SIGNATURE.json, made with an asymmetric KMS key over a statement that
//! names manifest.json's SHA-256, and checked offline against the key's public key.
//!
//! The manifest lists every file of the pack with its SHA-256, so signing the manifest's digest
//! signs the whole pack. What is signed is the short statement [`signed_message`], not the
//! manifest itself: KMS signs raw messages of at most 4 KB, and a manifest can be larger.

use std::path::Path;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// The signature's file name in the pack. It is not listed in SHA256SUMS or the manifest: it is
/// written after them, over them.
pub const SIGNATURE_FILE: &str = "SIGNATURE.json";

const FORMAT: &str = "kmsaudit-pack-signature/1";

/// SIGNATURE.json.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackSignature {
    /// `kmsaudit-pack-signature/1`.
    pub format: String,
    /// SHA-256 of manifest.json, hex.
    pub manifest_sha256: String,
    /// The KMS key that signed.
    pub key_arn: String,
    /// The KMS signing algorithm, e.g. `ECDSA_SHA_256`.
    pub signing_algorithm: String,
    /// The signature, base64.
    pub signature: String,
    /// The key's public key as KMS GetPublicKey returned it at signing time (DER
    /// SubjectPublicKeyInfo, base64). For information: a verifier trusts the key it is given,
    /// never this one.
    pub public_key: String,
}

impl PackSignature {
    /// A signature record of `manifest_sha256`.
    pub fn new(
        manifest_sha256: &str,
        key_arn: &str,
        signing_algorithm: &str,
        signature: &[u8],
        public_key: &[u8],
    ) -> PackSignature {
        let b64 = base64::engine::general_purpose::STANDARD;
        PackSignature {
            format: FORMAT.into(),
            manifest_sha256: manifest_sha256.into(),
            key_arn: key_arn.into(),
            signing_algorithm: signing_algorithm.into(),
            signature: b64.encode(signature),
            public_key: b64.encode(public_key),
        }
    }
}

/// The statement that is signed: it names manifest.json's SHA-256.
pub fn signed_message(manifest_sha256: &str) -> Vec<u8> {
    format!("kmsaudit evidence pack\nmanifest.json sha256:{manifest_sha256}\n").into_bytes()
}

/// SHA-256 of the pack's manifest.json, hex.
pub fn manifest_sha256(dir: &Path) -> std::io::Result<String> {
    let bytes = crate::verify::read_confined(dir, "manifest.json", crate::verify::MAX_LISTING)
        .map_err(std::io::Error::other)?;
    Ok(crate::sha256_hex(&bytes))
}

/// SIGNATURE.json larger than this is not ours.
const MAX_SIGNATURE: u64 = 1 << 20;

/// Writes SIGNATURE.json into the pack.
pub fn write_signature(dir: &Path, signature: &PackSignature) -> std::io::Result<()> {
    use std::io::Write;
    let mut text = serde_json::to_vec_pretty(signature).map_err(std::io::Error::other)?;
    text.push(b'\n');
    let mut file = crate::create_new_file(&dir.join(SIGNATURE_FILE))?;
    file.write_all(&text)?;
    file.sync_all()
}

/// The SHA-256 fingerprint of a public key (its DER SubjectPublicKeyInfo), hex: how a verifier
/// names the key that checked a signature.
pub fn public_key_fingerprint(der: &[u8]) -> String {
    crate::sha256_hex(der)
}

/// Reads the pack's SIGNATURE.json, if it has one.
pub fn read_signature(dir: &Path) -> Result<Option<PackSignature>, String> {
    if matches!(
        std::fs::symlink_metadata(dir.join(SIGNATURE_FILE)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound
    ) {
        return Ok(None);
    }
    let bytes = crate::verify::read_confined(dir, SIGNATURE_FILE, MAX_SIGNATURE)?;
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| format!("{SIGNATURE_FILE}: malformed: {e}"))
}

/// A public key file's DER SubjectPublicKeyInfo: DER as GetPublicKey returns it, or PEM
/// (`-----BEGIN PUBLIC KEY-----`).
pub fn public_key_der(file: &[u8]) -> Result<Vec<u8>, String> {
    let Ok(text) = std::str::from_utf8(file) else {
        return Ok(file.to_vec());
    };
    let Some(start) = text.find("-----BEGIN PUBLIC KEY-----") else {
        if text.trim_start().starts_with("-----BEGIN") {
            return Err("a PEM file that holds no PUBLIC KEY block".into());
        }
        return Ok(file.to_vec());
    };
    let body = &text[start + "-----BEGIN PUBLIC KEY-----".len()..];
    let end = body
        .find("-----END PUBLIC KEY-----")
        .ok_or("the PEM PUBLIC KEY block has no END line")?;
    let b64: String = body[..end].split_whitespace().collect();
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|e| format!("the PEM PUBLIC KEY block is not base64: {e}"))
}

/// Checks the pack's signature against `public_key` (DER SubjectPublicKeyInfo), offline. On
/// success, the signature record; else what is wrong.
pub fn check_signature(dir: &Path, public_key: &[u8]) -> Result<PackSignature, String> {
    use aws_lc_rs::signature as sig;
    let record = read_signature(dir)?.ok_or_else(|| format!("{SIGNATURE_FILE}: missing"))?;
    if record.format != FORMAT {
        return Err(format!(
            "{SIGNATURE_FILE}: unknown format `{}`",
            record.format
        ));
    }
    let actual = manifest_sha256(dir).map_err(|e| format!("manifest.json: {e}"))?;
    if actual != record.manifest_sha256 {
        return Err(format!(
            "manifest.json: changed since it was signed (SHA-256 {actual}, signed {})",
            record.manifest_sha256
        ));
    }
    let algorithm: &'static dyn sig::VerificationAlgorithm = match record.signing_algorithm.as_str()
    {
        "ECDSA_SHA_256" => &sig::ECDSA_P256_SHA256_ASN1,
        "ECDSA_SHA_384" => &sig::ECDSA_P384_SHA384_ASN1,
        "ECDSA_SHA_512" => &sig::ECDSA_P521_SHA512_ASN1,
        "RSASSA_PKCS1_V1_5_SHA_256" => &sig::RSA_PKCS1_2048_8192_SHA256,
        "RSASSA_PKCS1_V1_5_SHA_384" => &sig::RSA_PKCS1_2048_8192_SHA384,
        "RSASSA_PKCS1_V1_5_SHA_512" => &sig::RSA_PKCS1_2048_8192_SHA512,
        "RSASSA_PSS_SHA_256" => &sig::RSA_PSS_2048_8192_SHA256,
        "RSASSA_PSS_SHA_384" => &sig::RSA_PSS_2048_8192_SHA384,
        "RSASSA_PSS_SHA_512" => &sig::RSA_PSS_2048_8192_SHA512,
        other => {
            return Err(format!(
                "{SIGNATURE_FILE}: unsupported signing algorithm `{other}`"
            ))
        }
    };
    let signature = base64::engine::general_purpose::STANDARD
        .decode(&record.signature)
        .map_err(|e| format!("{SIGNATURE_FILE}: the signature is not base64: {e}"))?;
    sig::UnparsedPublicKey::new(algorithm, public_key)
        .verify(&signed_message(&actual), &signature)
        .map_err(|_| {
            format!(
                "{SIGNATURE_FILE}: the signature does not verify with the given public key \
                 ({} by {})",
                record.signing_algorithm, record.key_arn
            )
        })?;
    Ok(record)
}
