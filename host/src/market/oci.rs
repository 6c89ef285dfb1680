//! The registry, through `oci-client`: a package's manifest, layer and
//! config pushed and pulled, its signature stored next to it under the
//! tag `sha256-<hex>.sig` (as cosign does, so any OCI registry keeps it),
//! tags listed as versions, the catalog searched.

use super::keys::{SignatureDoc, sign};
use super::package::{
    MANIFEST_ANNOTATION, Package, PackageManifest, WASM_CONFIG, WASM_LAYER, annotations,
    config_json,
};
use anyhow::Context as _;
use ed25519_dalek::SigningKey;
use oci_client::client::{ClientConfig, ClientProtocol, Config, ImageLayer};
use oci_client::manifest::{OCI_IMAGE_MEDIA_TYPE, OciImageManifest};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use sha2::Digest as _;

/// The signature layer's media type.
pub const SIGNATURE_LAYER: &str = "application/vnd.dev.robota.signature.v1+json";

/// A registry and the namespace packages live under
/// (`<registry>/<namespace>/<action-id>:<version>`).
pub struct Registry {
    client: Client,
    /// `host[:port]`.
    host: String,
    namespace: String,
    /// As the user gave it, for messages and the lock.
    url: String,
}

/// A package as the registry holds it.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The manifest's digest, `sha256:<hex>`.
    pub digest: String,
    /// robota's manifest, from the annotation.
    pub manifest: PackageManifest,
    /// The component's bytes (their digest checked against the manifest).
    pub wasm: Vec<u8>,
    /// The signature stored next to it, if any.
    pub signature: Option<SignatureDoc>,
}

/// What a search finds.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Found {
    /// The action's id.
    pub id: String,
    /// Its highest version.
    pub version: String,
    /// Its title.
    pub title: String,
    /// What it does.
    pub description: String,
    /// Its other versions.
    pub versions: Vec<String>,
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

/// The tag a manifest's signature is stored under.
pub fn signature_tag(digest: &str) -> String {
    digest.replace(':', "-") + ".sig"
}

/// The registry could not be reached, or did not answer as a registry
/// (the API answers 502 for it rather than blaming the package).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Unreachable(String);

impl Registry {
    /// The registry at `url` (`http://127.0.0.1:5000`, `https://registry.example`
    /// or a bare host, which means HTTPS), packages under `namespace`.
    pub fn new(url: &str, namespace: &str) -> anyhow::Result<Registry> {
        // reqwest without a built-in TLS provider: rustls with ring.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let (protocol, rest) = match url.split_once("://") {
            Some(("http", rest)) => (ClientProtocol::Http, rest),
            Some(("https", rest)) => (ClientProtocol::Https, rest),
            Some((other, _)) => {
                anyhow::bail!("registry `{url}`: use http:// or https://, not {other}://")
            }
            None => (ClientProtocol::Https, url),
        };
        let host = rest.trim_end_matches('/').to_owned();
        anyhow::ensure!(
            !host.is_empty() && !host.contains('/'),
            "registry `{url}`: give the registry's address only, such as http://127.0.0.1:5000"
        );
        super::package::check_id(namespace).context("the namespace")?;
        let client = Client::new(ClientConfig {
            protocol,
            ..Default::default()
        });
        Ok(Registry {
            client,
            host,
            namespace: namespace.to_owned(),
            url: url.to_owned(),
        })
    }

    /// The registry as given.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The repository of action `id`: `<namespace>/<id>`.
    pub fn repository(&self, id: &str) -> String {
        format!("{}/{id}", self.namespace)
    }

    fn tagged(&self, id: &str, tag: &str) -> Reference {
        Reference::with_tag(self.host.clone(), self.repository(id), tag.to_owned())
    }

    fn pinned(&self, id: &str, digest: &str) -> Reference {
        Reference::with_digest(self.host.clone(), self.repository(id), digest.to_owned())
    }

    /// The raw manifest at `reference` and the digest the registry gives it.
    async fn manifest_raw(
        &self,
        reference: &Reference,
    ) -> Result<(bytes::Bytes, String), oci_client::errors::OciDistributionError> {
        self.client
            .pull_manifest_raw(reference, &RegistryAuth::Anonymous, &[OCI_IMAGE_MEDIA_TYPE])
            .await
    }

    fn unreachable(&self, e: impl std::fmt::Display) -> anyhow::Error {
        anyhow::Error::new(Unreachable(format!(
            "the registry {} cannot be reached or did not answer as a registry: {e}",
            self.url
        )))
    }

    /// Pushes `package` as `<id>:<version>` and its signature by `key`;
    /// returns the manifest's digest.
    pub async fn publish(&self, package: &Package, key: &SigningKey) -> anyhow::Result<String> {
        let m = &package.manifest;
        let reference = self.tagged(&m.id, &m.version);
        let layers = [ImageLayer::new(
            package.wasm.clone(),
            WASM_LAYER.to_owned(),
            None,
        )];
        let config = Config::new(config_json(), WASM_CONFIG.to_owned(), None);
        let mut manifest = OciImageManifest::build(&layers, &config, Some(annotations(m)?));
        manifest.media_type = Some(OCI_IMAGE_MEDIA_TYPE.to_owned());
        self.client
            .push(
                &reference,
                &layers,
                config,
                &RegistryAuth::Anonymous,
                Some(manifest),
            )
            .await
            .map_err(|e| self.unreachable(e))?;
        // The digest of the bytes the registry keeps, checked here.
        let (bytes, digest) = self
            .manifest_raw(&reference)
            .await
            .map_err(|e| self.unreachable(e))?;
        anyhow::ensure!(
            sha256(&bytes) == digest,
            "the registry answered manifest digest {digest} for other bytes"
        );
        let doc = serde_json::to_vec(&sign(key, &digest))?;
        let sig_layers = [ImageLayer::new(doc, SIGNATURE_LAYER.to_owned(), None)];
        let sig_config = Config::new(b"{}".to_vec(), WASM_CONFIG.to_owned(), None);
        self.client
            .push(
                &self.tagged(&m.id, &signature_tag(&digest)),
                &sig_layers,
                sig_config,
                &RegistryAuth::Anonymous,
                None,
            )
            .await
            .map_err(|e| self.unreachable(e))?;
        Ok(digest)
    }

    /// The semver versions of action `id` (its tags but signatures).
    pub async fn versions(&self, id: &str) -> anyhow::Result<Vec<semver::Version>> {
        let tags = self
            .client
            .list_tags(
                &self.tagged(id, "latest"),
                &RegistryAuth::Anonymous,
                None,
                None,
            )
            .await
            .map_err(|e| match e {
                // Nothing answered: the registry is down or not there.
                oci_client::errors::OciDistributionError::RequestError(_) => self.unreachable(e),
                _ => anyhow::anyhow!(
                    "no action `{id}` in {} (repository {}): {e}",
                    self.url,
                    self.repository(id)
                ),
            })?;
        let mut versions: Vec<semver::Version> = tags
            .tags
            .iter()
            .filter_map(|t| semver::Version::parse(t).ok())
            .collect();
        versions.sort();
        Ok(versions)
    }

    /// Package `id` at `version`.
    pub async fn fetch(&self, id: &str, version: &str) -> anyhow::Result<Fetched> {
        self.fetch_ref(id, &self.tagged(id, version)).await
    }

    /// Package `id` by manifest digest (what a lock pins).
    pub async fn fetch_pinned(&self, id: &str, digest: &str) -> anyhow::Result<Fetched> {
        self.fetch_ref(id, &self.pinned(id, digest)).await
    }

    /// The OCI manifest at `reference`, checked against its digest, and the
    /// robota manifest it carries: (digest, OCI manifest, robota manifest).
    /// Reads no blob.
    async fn describe_ref(
        &self,
        id: &str,
        reference: &Reference,
    ) -> anyhow::Result<(String, OciImageManifest, PackageManifest)> {
        let (bytes, digest) = self
            .manifest_raw(reference)
            .await
            .map_err(|e| anyhow::anyhow!("{id}: cannot read {reference}: {e}"))?;
        anyhow::ensure!(
            sha256(&bytes) == digest,
            "{id}: the registry's manifest does not have the digest {digest} it claims: it is not installed"
        );
        if let Some(pinned) = reference.digest() {
            anyhow::ensure!(
                pinned == digest,
                "{id}: asked for manifest {pinned}, the registry answered {digest}"
            );
        }
        let manifest: OciImageManifest =
            serde_json::from_slice(&bytes).context("the manifest is not an OCI image manifest")?;
        let said: PackageManifest = manifest
            .annotations
            .as_ref()
            .and_then(|a| a.get(MANIFEST_ANNOTATION))
            .context("not a robota action: its manifest has no dev.robota.manifest annotation")
            .and_then(|text| {
                serde_json::from_str(text).context("its dev.robota.manifest annotation is damaged")
            })?;
        Ok((digest, manifest, said))
    }

    async fn fetch_ref(&self, id: &str, reference: &Reference) -> anyhow::Result<Fetched> {
        let (digest, manifest, said) = self.describe_ref(id, reference).await?;
        let layer = manifest
            .layers
            .iter()
            .find(|l| l.media_type == WASM_LAYER)
            .context("the package has no application/wasm layer")?;
        let mut wasm = Vec::new();
        self.client
            .pull_blob(reference, layer, &mut wasm)
            .await
            .map_err(|e| anyhow::anyhow!("{id}: cannot read the component: {e}"))?;
        anyhow::ensure!(
            sha256(&wasm) == layer.digest,
            "{id}: the component's bytes do not have the digest {} the manifest names: it is not installed",
            layer.digest
        );
        let signature = self.signature(id, &digest).await?;
        Ok(Fetched {
            digest,
            manifest: said,
            wasm,
            signature,
        })
    }

    /// The signature stored for manifest `digest`, if any.
    async fn signature(&self, id: &str, digest: &str) -> anyhow::Result<Option<SignatureDoc>> {
        let reference = self.tagged(id, &signature_tag(digest));
        let Ok((bytes, _)) = self.manifest_raw(&reference).await else {
            return Ok(None);
        };
        let manifest: OciImageManifest = serde_json::from_slice(&bytes)
            .context("the signature's manifest is not an OCI image manifest")?;
        let Some(layer) = manifest
            .layers
            .iter()
            .find(|l| l.media_type == SIGNATURE_LAYER)
        else {
            return Ok(None);
        };
        let mut doc = Vec::new();
        self.client
            .pull_blob(&reference, layer, &mut doc)
            .await
            .map_err(|e| anyhow::anyhow!("{id}: cannot read the signature: {e}"))?;
        Ok(serde_json::from_slice(&doc).ok())
    }

    /// The actions of this namespace whose id, title or description holds
    /// `word` (case-insensitive), with their versions.
    pub async fn search(&self, word: &str) -> anyhow::Result<Vec<Found>> {
        let catalog = self
            .client
            .catalog(
                &self.tagged("catalog", "latest"),
                &RegistryAuth::Anonymous,
                None,
                None,
            )
            .await
            .map_err(|e| self.unreachable(e))?;
        let prefix = format!("{}/", self.namespace);
        let word = word.to_lowercase();
        let mut out = Vec::new();
        for repo in catalog.repositories {
            let Some(id) = repo.strip_prefix(&prefix) else {
                continue;
            };
            let versions = self.versions(id).await?;
            let Some(latest) = versions.last() else {
                continue;
            };
            // The manifest only: search downloads no component.
            let m = match self
                .describe_ref(id, &self.tagged(id, &latest.to_string()))
                .await
            {
                Ok((_, _, m)) => m,
                Err(e) => {
                    tracing::warn!("search skips {repo}: {e:#}");
                    continue;
                }
            };
            let text = format!("{} {} {}", m.id, m.title, m.description).to_lowercase();
            if text.contains(&word) {
                out.push(Found {
                    id: m.id,
                    version: latest.to_string(),
                    title: m.title,
                    description: m.description,
                    versions: versions.iter().map(ToString::to_string).collect(),
                });
            }
        }
        Ok(out)
    }
}
