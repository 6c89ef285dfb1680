//! Publisher keys and the admin's trust store. A publisher signs the
//! digest of a package's OCI manifest with an ed25519 key; an admin lists
//! the public keys they accept in `trusted-publishers.toml` beside
//! `plugins.toml`:
//!
//! ```toml
//! [publishers]
//! acme = "ed25519:<base64 public key>"
//! ```

use anyhow::Context as _;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use sha2::Digest as _;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The first line of a secret key file.
const SECRET_HEADER: &str = "robota publisher key (ed25519), keep secret";

/// The trust store's file name, beside `plugins.toml`.
pub const TRUST_FILE: &str = "trusted-publishers.toml";

/// A public key as text: `ed25519:<base64>`.
pub fn public_text(key: &VerifyingKey) -> String {
    format!(
        "ed25519:{}",
        base64::engine::general_purpose::STANDARD.encode(key.as_bytes())
    )
}

/// A public key from its text.
pub fn parse_public(text: &str) -> anyhow::Result<VerifyingKey> {
    let b64 = text
        .trim()
        .strip_prefix("ed25519:")
        .with_context(|| format!("`{text}` is not a public key: it starts with ed25519:"))?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .with_context(|| format!("`{text}`: not base64"))?;
    let bytes: [u8; 32] = bytes
        .try_into()
        .map_err(|_| anyhow::anyhow!("`{text}`: an ed25519 public key is 32 bytes"))?;
    VerifyingKey::from_bytes(&bytes).with_context(|| format!("`{text}` is not an ed25519 key"))
}

/// A short name for a key: the first 16 hex digits of its SHA-256.
pub fn key_id(key: &VerifyingKey) -> String {
    hex::encode(&sha2::Sha256::digest(key.as_bytes())[..8])
}

/// Makes a new key pair: the secret at `out` (readable by its owner only),
/// the public key at `out.pub`. Returns the public key's text.
pub fn keygen(out: &Path) -> anyhow::Result<String> {
    if out.exists() {
        anyhow::bail!(
            "{} exists: a key is not overwritten (remove it first if you mean to)",
            out.display()
        );
    }
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no randomness from the OS: {e}"))?;
    let key = SigningKey::from_bytes(&seed);
    let secret = format!(
        "{SECRET_HEADER}\n{}\n",
        base64::engine::general_purpose::STANDARD.encode(seed)
    );
    write_private(out, secret.as_bytes())?;
    let public = public_text(&key.verifying_key());
    let pub_path = pub_path(out);
    std::fs::write(&pub_path, format!("{public}\n"))
        .with_context(|| format!("writing {}", pub_path.display()))?;
    Ok(public)
}

/// `key` → `key.pub`.
pub fn pub_path(secret: &Path) -> PathBuf {
    let mut name = secret.as_os_str().to_owned();
    name.push(".pub");
    PathBuf::from(name)
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(bytes)
        .with_context(|| format!("writing {}", path.display()))
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

/// Reads a secret key file made by [`keygen`].
pub fn load_secret(path: &Path) -> anyhow::Result<SigningKey> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the publisher key {}", path.display()))?;
    let mut lines = text.lines();
    if lines.next() != Some(SECRET_HEADER) {
        anyhow::bail!(
            "{} is not a publisher key made by `robota plugin keygen`",
            path.display()
        );
    }
    let seed = lines
        .next()
        .and_then(|l| {
            base64::engine::general_purpose::STANDARD
                .decode(l.trim())
                .ok()
        })
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .with_context(|| format!("{}: the key's second line is damaged", path.display()))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// What a signature says: who signed which manifest digest.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SignatureDoc {
    /// The signed manifest digest, `sha256:<hex>`.
    pub digest: String,
    /// The signer's public key, `ed25519:<base64>`.
    pub key: String,
    /// The signature over the digest's text, base64.
    pub signature: String,
}

/// Signs manifest digest `digest` with `key`.
pub fn sign(key: &SigningKey, digest: &str) -> SignatureDoc {
    SignatureDoc {
        digest: digest.to_owned(),
        key: public_text(&key.verifying_key()),
        signature: base64::engine::general_purpose::STANDARD
            .encode(key.sign(digest.as_bytes()).to_bytes()),
    }
}

/// The public keys an admin accepts, by publisher name.
#[derive(Debug, Clone, Default)]
pub struct TrustStore {
    keys: BTreeMap<String, VerifyingKey>,
}

/// Why a package's signature is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Untrusted {
    /// No signature next to the manifest.
    #[error(
        "the package is not signed (no signature for manifest {0} in the registry): it is not installed"
    )]
    Unsigned(String),
    /// Signed, by a key the trust store does not list.
    #[error(
        "the package is signed by an unknown key {id} ({key}): add it to {TRUST_FILE} if you trust its publisher"
    )]
    UnknownKey {
        /// The key's id.
        id: String,
        /// The key.
        key: String,
    },
    /// The signature does not verify: a byte changed after signing.
    #[error(
        "the signature does not match manifest {0}: the package was changed after it was signed"
    )]
    Mismatch(String),
}

impl TrustStore {
    /// The store of the plugins folder `dir` (empty if it has none).
    pub fn load(dir: &Path) -> anyhow::Result<TrustStore> {
        let path = dir.join(TRUST_FILE);
        if !path.exists() {
            return Ok(TrustStore::default());
        }
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct File {
            #[serde(default)]
            publishers: BTreeMap<String, String>,
        }
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let file: File =
            toml::from_str(&text).with_context(|| format!("{}: not valid", path.display()))?;
        let mut keys = BTreeMap::new();
        for (name, key) in file.publishers {
            let key = parse_public(&key)
                .with_context(|| format!("{}: publisher `{name}`", path.display()))?;
            keys.insert(name, key);
        }
        Ok(TrustStore { keys })
    }

    /// A store holding `keys` (name, public key text).
    pub fn with(keys: &[(&str, &str)]) -> anyhow::Result<TrustStore> {
        let mut store = TrustStore::default();
        for (name, key) in keys {
            store.keys.insert((*name).to_owned(), parse_public(key)?);
        }
        Ok(store)
    }

    /// The publisher whose key made `doc`, if `doc` signs `digest` and
    /// verifies; the refusal names what is wrong.
    pub fn verify(&self, digest: &str, doc: Option<&SignatureDoc>) -> Result<String, Untrusted> {
        let Some(doc) = doc else {
            return Err(Untrusted::Unsigned(digest.to_owned()));
        };
        let key = parse_public(&doc.key).map_err(|_| Untrusted::Mismatch(digest.to_owned()))?;
        let Some((name, _)) = self.keys.iter().find(|(_, k)| **k == key) else {
            return Err(Untrusted::UnknownKey {
                id: key_id(&key),
                key: doc.key.clone(),
            });
        };
        let signature = base64::engine::general_purpose::STANDARD
            .decode(&doc.signature)
            .ok()
            .and_then(|b| Signature::from_slice(&b).ok())
            .ok_or_else(|| Untrusted::Mismatch(digest.to_owned()))?;
        // The signature must be over this very digest, not another the
        // signer once signed.
        if doc.digest != digest || key.verify(digest.as_bytes(), &signature).is_err() {
            return Err(Untrusted::Mismatch(digest.to_owned()));
        }
        Ok(name.clone())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_only_for_its_digest_and_a_trusted_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("publisher.key");
        let public = keygen(&path).unwrap();
        assert!(keygen(&path).is_err(), "never overwritten");
        assert_eq!(
            std::fs::read_to_string(pub_path(&path)).unwrap().trim(),
            public
        );
        let key = load_secret(&path).unwrap();
        let doc = sign(&key, "sha256:aa");
        let trust = TrustStore::with(&[("acme", &public)]).unwrap();
        assert_eq!(trust.verify("sha256:aa", Some(&doc)).unwrap(), "acme");
        assert_eq!(
            trust.verify("sha256:bb", Some(&doc)),
            Err(Untrusted::Mismatch("sha256:bb".into()))
        );
        let mut forged = doc.clone();
        forged.digest = "sha256:bb".into();
        assert!(matches!(
            trust.verify("sha256:bb", Some(&forged)),
            Err(Untrusted::Mismatch(_))
        ));
        assert_eq!(
            trust.verify("sha256:aa", None),
            Err(Untrusted::Unsigned("sha256:aa".into()))
        );
        let stranger = TrustStore::default();
        assert!(matches!(
            stranger.verify("sha256:aa", Some(&doc)),
            Err(Untrusted::UnknownKey { .. })
        ));
    }
}
