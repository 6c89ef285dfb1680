//! What an action package is: the component as an `application/wasm`
//! layer, the Wasm OCI config, and robota's manifest — read from the
//! component's own `describe` when it is packed, so the two never disagree
//! — as an annotation next to the OCI standard ones.

use crate::plugins::{LoadedPlugin, PluginHost};
use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The component layer's media type.
pub const WASM_LAYER: &str = "application/wasm";
/// The Wasm OCI config's media type (wasm-pkg-tools, Spin, wasmCloud).
pub const WASM_CONFIG: &str = "application/vnd.wasm.config.v0+json";
/// The annotation holding robota's manifest as JSON.
pub const MANIFEST_ANNOTATION: &str = "dev.robota.manifest";
/// The WIT world (and version) the host serves.
pub const WIT_WORLD: &str = "robota:plugin/action@0.1.0";

/// robota's manifest of a package: what the action is and what it asks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PackageManifest {
    /// The action's id (the repository's last segment).
    pub id: String,
    /// Its semver version (the tag).
    pub version: String,
    /// Its title.
    pub title: String,
    /// What it does.
    pub description: String,
    /// Who publishes it.
    #[serde(default)]
    pub publisher: Option<String>,
    /// The capabilities it asks for.
    pub capabilities: Vec<String>,
    /// The hosts it wants to reach with `http.fetch` (`*`: the admin's choice).
    #[serde(default)]
    pub http_hosts: Vec<String>,
    /// The input's JSON Schema.
    pub input_schema: serde_json::Value,
    /// The output's JSON Schema.
    pub output_schema: serde_json::Value,
    /// The WIT world it was built against.
    pub wit: String,
    /// Its licence (SPDX).
    #[serde(default)]
    pub licence: Option<String>,
    /// Its homepage.
    #[serde(default)]
    pub homepage: Option<String>,
}

/// A packed action: its manifest and the component's bytes.
#[derive(Debug, Clone)]
pub struct Package {
    /// robota's manifest.
    pub manifest: PackageManifest,
    /// The component.
    pub wasm: Vec<u8>,
}

/// Who publishes, under what licence, from where (not in the component).
#[derive(Debug, Clone, Default)]
pub struct Publishing {
    /// The publisher's name.
    pub publisher: Option<String>,
    /// The licence.
    pub licence: Option<String>,
    /// The homepage.
    pub homepage: Option<String>,
}

/// The manifest of a loaded component.
fn manifest_of(plugin: &LoadedPlugin, publishing: &Publishing) -> PackageManifest {
    let m = &plugin.manifest;
    PackageManifest {
        id: m.id.clone(),
        version: m.version.clone(),
        title: m.title.clone(),
        description: m.description.clone(),
        publisher: publishing.publisher.clone(),
        capabilities: m.capabilities.iter().map(|c| c.name().to_owned()).collect(),
        http_hosts: m.http_hosts.clone(),
        input_schema: m.input_schema.clone(),
        output_schema: m.output_schema.clone(),
        wit: WIT_WORLD.to_owned(),
        licence: publishing.licence.clone(),
        homepage: publishing.homepage.clone(),
    }
}

/// Packs `wasm`: it must be a component this host instantiates (its
/// imports are the world this host serves), whose `describe` answers with
/// an id and a semver version.
pub async fn pack(
    host: &PluginHost,
    wasm: Vec<u8>,
    publishing: &Publishing,
) -> anyhow::Result<Package> {
    let plugin = host
        .load(wasm.clone())
        .await
        .context("the component cannot be packed")?;
    let manifest = manifest_of(&plugin, publishing);
    semver::Version::parse(&manifest.version).with_context(|| {
        format!(
            "`{}` reports version `{}`, which is not a semver version such as 1.2.0",
            manifest.id, manifest.version
        )
    })?;
    check_id(&manifest.id)?;
    Ok(Package { manifest, wasm })
}

/// An id fit for a repository name: lower-case letters, digits and `-`.
pub fn check_id(id: &str) -> anyhow::Result<()> {
    let ok = !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !id.starts_with('-');
    anyhow::ensure!(
        ok,
        "action id `{id}` cannot name a repository: use lower-case letters, digits and -"
    );
    Ok(())
}

/// The OCI config of a package.
pub fn config_json() -> Vec<u8> {
    serde_json::json!({ "architecture": "wasm", "os": "wasip2" })
        .to_string()
        .into_bytes()
}

/// The manifest's annotations: the OCI standard ones and robota's.
pub fn annotations(m: &PackageManifest) -> anyhow::Result<BTreeMap<String, String>> {
    let mut a = BTreeMap::new();
    a.insert("org.opencontainers.image.title".into(), m.id.clone());
    a.insert("org.opencontainers.image.version".into(), m.version.clone());
    a.insert(
        "org.opencontainers.image.description".into(),
        m.description.clone(),
    );
    if let Some(p) = &m.publisher {
        a.insert("org.opencontainers.image.vendor".into(), p.clone());
    }
    if let Some(l) = &m.licence {
        a.insert("org.opencontainers.image.licenses".into(), l.clone());
    }
    if let Some(h) = &m.homepage {
        a.insert("org.opencontainers.image.url".into(), h.clone());
    }
    a.insert(MANIFEST_ANNOTATION.into(), serde_json::to_string(m)?);
    Ok(a)
}

/// Checks that the component `plugin` is what the annotation `said`:
/// the same id, version and capabilities.
pub fn check_matches(said: &PackageManifest, plugin: &LoadedPlugin) -> anyhow::Result<()> {
    let is = manifest_of(plugin, &Publishing::default());
    anyhow::ensure!(
        (is.id.as_str(), is.version.as_str()) == (said.id.as_str(), said.version.as_str())
            && is.capabilities == said.capabilities
            && is.http_hosts == said.http_hosts,
        "the package's manifest says {} {} asking for [{}], but its component is {} {} asking for [{}]: it is not installed",
        said.id,
        said.version,
        said.capabilities.join(", "),
        is.id,
        is.version,
        is.capabilities.join(", ")
    );
    Ok(())
}

/// A capability in plain words, for consent.
pub fn in_words(capability: &str, hosts: &[String]) -> String {
    match capability {
        "crm.read" => "read CRM records: leads, contacts, companies, deals, invoices, payment requests, tasks (crm.read)".into(),
        "crm.write" => "create and change CRM records (crm.write)".into(),
        "mail.send" => "send e-mail in the company's name (mail.send)".into(),
        "notify.send" => "send notifications to users (notify.send)".into(),
        "http.fetch" if hosts.iter().any(|h| h == "*") => {
            "make HTTP requests to the hosts you grant it in plugins.toml (http.fetch)".into()
        }
        "http.fetch" => format!("make HTTP requests to {} (http.fetch)", hosts.join(", ")),
        other => format!("`{other}`"),
    }
}
