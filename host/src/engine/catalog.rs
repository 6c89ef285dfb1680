//! The installed actions a process can `use`: components loaded from a
//! plugins folder, each with what the admin granted it in `plugins.toml`.
//!
//! ```toml
//! # plugins/plugins.toml
//! [actions.create-task]
//! grants = ["crm.read", "crm.write"]
//! # Per-call limits (defaults in `plugins::Limits`): the deadline, memory,
//! # input/output size, what one call may buffer for its commit, and what
//! # one host call may carry.
//! deadline = "10s"
//! memory = "128MiB"
//! max_io = "4MiB"
//! max_changes = 20000
//! max_change_bytes = "128MiB"
//! max_host_call = "32MiB"
//!
//! [actions.lookup-company]
//! grants = ["crm.read", "http.fetch=api.registry.example"]
//! config = { api_key = "..." }
//!
//! [actions.send-email.config]
//! # A value may come from a file, relative to the plugins folder.
//! "templates.invoice.html" = { file = "templates/invoice.html" }
//! ```
//!
//! An action with no entry runs with no grants: installing a component does
//! not give it anything its admin did not write down.
//!
//! Components an upgrade replaced wait in `superseded/` while a run that
//! started with them is still running: such a run keeps its digest to the
//! end (see [`Catalog::pins`]), with the grants the admin gives now.

use super::definition::ActionRef;
use crate::plugins::limits::{parse_duration, parse_size};
use crate::plugins::{Grants, Limits, LoadedPlugin, Manifest, PluginHost};
use anyhow::Context as _;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The name of the grants file in a plugins folder.
pub const GRANTS_FILE: &str = "plugins.toml";
/// The subfolder of components an upgrade replaced, kept for the runs that
/// started with them.
pub const SUPERSEDED_DIR: &str = "superseded";

/// One installed action.
pub struct InstalledAction {
    /// The loaded component.
    pub plugin: Arc<LoadedPlugin>,
    /// What the admin granted it.
    pub grants: Grants,
    /// Its settings.
    pub config: Arc<BTreeMap<String, String>>,
    /// Its per-call limits.
    pub limits: Limits,
}

/// What validation needs to know about actions.
pub trait ActionLookup {
    /// The manifest of the action `r` names, if installed.
    fn manifest(&self, r: &ActionRef) -> Option<&Manifest>;
    /// The versions of action `id` that are installed.
    fn versions(&self, id: &str) -> Vec<String>;
}

/// The installed actions, by id and major version, and every component
/// loaded (the superseded ones too) by digest.
#[derive(Default)]
pub struct Catalog {
    actions: BTreeMap<ActionRef, Arc<InstalledAction>>,
    by_digest: HashMap<String, Arc<InstalledAction>>,
    /// Superseded components' files, by digest.
    superseded: BTreeMap<String, PathBuf>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct GrantsFile {
    #[serde(default)]
    actions: BTreeMap<String, ActionSettings>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ActionSettings {
    #[serde(default)]
    grants: Vec<String>,
    #[serde(default)]
    config: BTreeMap<String, ConfigValue>,
    deadline: Option<String>,
    memory: Option<String>,
    max_io: Option<String>,
    /// The most CRM changes one call may buffer.
    max_changes: Option<usize>,
    /// The most host memory one call's buffered changes may take (`64MiB`).
    max_change_bytes: Option<String>,
    /// The most data one host call may carry (`16MiB`).
    max_host_call: Option<String>,
}

/// A setting: the text itself, or a file holding it (a mail template).
#[derive(Deserialize)]
#[serde(untagged)]
enum ConfigValue {
    Text(String),
    File {
        /// Relative to the plugins folder.
        file: std::path::PathBuf,
    },
}

/// An action's settings with every `{ file = … }` read from `dir`; a file
/// outside the folder or missing is an error naming the key.
fn read_config(
    dir: &Path,
    config: &BTreeMap<String, ConfigValue>,
) -> anyhow::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for (key, value) in config {
        let text = match value {
            ConfigValue::Text(t) => t.clone(),
            ConfigValue::File { file } => {
                anyhow::ensure!(
                    file.is_relative()
                        && file
                            .components()
                            .all(|c| matches!(c, std::path::Component::Normal(_))),
                    "config `{key}`: file `{}` must be a relative path inside the plugins folder",
                    file.display()
                );
                let path = dir.join(file);
                std::fs::read_to_string(&path)
                    .with_context(|| format!("config `{key}`: reading {}", path.display()))?
            }
        };
        out.insert(key.clone(), text);
    }
    Ok(out)
}

impl Catalog {
    /// An empty catalog.
    pub fn new() -> Catalog {
        Catalog::default()
    }

    /// Loads every `*.wasm` in `dir` (and in its `superseded/`) and the
    /// grants in its `plugins.toml`.
    pub async fn load_dir(host: &PluginHost, dir: &Path) -> anyhow::Result<Catalog> {
        let grants_path = dir.join(GRANTS_FILE);
        let settings: GrantsFile = match std::fs::read_to_string(&grants_path) {
            Ok(text) => toml::from_str(&text)
                .map_err(|e| anyhow::anyhow!("{}: {}", grants_path.display(), e.message()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => GrantsFile::default(),
            Err(e) => return Err(e).context(format!("reading {}", grants_path.display())),
        };
        let mut catalog = Catalog::new();
        for file in wasm_files(dir)? {
            let installed = load_one(host, dir, &settings, &file).await?;
            catalog.insert(installed)?;
        }
        let superseded = dir.join(SUPERSEDED_DIR);
        if superseded.is_dir() {
            for file in wasm_files(&superseded)? {
                let installed = load_one(host, dir, &settings, &file).await?;
                let digest = installed.plugin.digest.clone();
                catalog
                    .by_digest
                    .entry(digest.clone())
                    .or_insert_with(|| Arc::new(installed));
                catalog.superseded.insert(digest, file);
            }
        }
        for id in settings.actions.keys() {
            if catalog.actions.keys().all(|r| &r.id != id) {
                tracing::warn!(action = %id, "{} grants an action that is not installed", grants_path.display());
            }
        }
        Ok(catalog)
    }

    /// The standard actions embedded in this binary, with no grants: enough
    /// to validate process files against.
    pub async fn standard(host: &PluginHost) -> anyhow::Result<Catalog> {
        let mut catalog = Catalog::new();
        for (name, bytes) in robota_plugin_artifacts::STANDARD {
            let plugin = host
                .load(*bytes)
                .await
                .with_context(|| format!("loading the embedded {name}"))?;
            catalog.insert(InstalledAction {
                plugin,
                grants: Grants::none(),
                config: Arc::new(BTreeMap::new()),
                limits: Limits::default(),
            })?;
        }
        Ok(catalog)
    }

    /// Adds an action; of two with the same major version the newer wins
    /// (the other stays reachable by its digest).
    pub fn insert(&mut self, action: InstalledAction) -> anyhow::Result<()> {
        let m = &action.plugin.manifest;
        let version = semver_triplet(&m.version)
            .with_context(|| format!("action `{}` has version `{}`", m.id, m.version))?;
        let key = ActionRef {
            id: m.id.clone(),
            major: version.0,
        };
        let action = Arc::new(action);
        self.by_digest
            .insert(action.plugin.digest.clone(), action.clone());
        if let Some(old) = self.actions.get(&key)
            && semver_triplet(&old.plugin.manifest.version).unwrap_or_default() >= version
        {
            return Ok(());
        }
        self.actions.insert(key, action);
        Ok(())
    }

    /// The action `r` names.
    pub fn get(&self, r: &ActionRef) -> Option<&InstalledAction> {
        self.actions.get(r).map(|a| a.as_ref())
    }

    /// The component of action `r` with `digest`, installed or superseded.
    pub fn get_pinned(&self, r: &ActionRef, digest: &str) -> Option<&InstalledAction> {
        self.by_digest
            .get(digest)
            .filter(|a| {
                a.plugin.manifest.id == r.id
                    && semver_triplet(&a.plugin.manifest.version).is_ok_and(|v| v.0 == r.major)
            })
            .map(|a| a.as_ref())
    }

    /// What a run starting now keeps: each action's digest by `id@major`.
    pub fn pins(&self) -> crate::store::action_sets::Pins {
        self.actions
            .iter()
            .map(|(r, a)| (r.to_string(), a.plugin.digest.clone()))
            .collect()
    }

    /// Every installed action.
    pub fn iter(&self) -> impl Iterator<Item = (&ActionRef, &InstalledAction)> {
        self.actions.iter().map(|(r, a)| (r, a.as_ref()))
    }

    /// The superseded components still kept: (digest, version of what).
    pub fn superseded(&self) -> impl Iterator<Item = &InstalledAction> {
        self.superseded
            .keys()
            .filter_map(|d| self.by_digest.get(d).map(|a| a.as_ref()))
    }

    /// Deletes the superseded components' files no digest of `in_use`
    /// names (no running run started with them); returns how many.
    pub fn prune_superseded(
        &self,
        in_use: &std::collections::BTreeSet<String>,
    ) -> anyhow::Result<usize> {
        let mut pruned = 0;
        for (digest, file) in &self.superseded {
            if !in_use.contains(digest) && file.exists() {
                std::fs::remove_file(file)
                    .with_context(|| format!("removing {}", file.display()))?;
                pruned += 1;
            }
        }
        Ok(pruned)
    }
}

/// The `*.wasm` files of `dir`, sorted.
fn wasm_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("reading the plugins folder {}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
        .collect();
    files.sort();
    Ok(files)
}

/// Loads component `file` with what `plugins.toml` (in `dir`) gives its action.
async fn load_one(
    host: &PluginHost,
    dir: &Path,
    settings: &GrantsFile,
    file: &Path,
) -> anyhow::Result<InstalledAction> {
    let grants_path = dir.join(GRANTS_FILE);
    let plugin = host
        .load_file(file)
        .await
        .with_context(|| format!("loading {}", file.display()))?;
    let id = plugin.manifest.id.clone();
    let s = settings.actions.get(&id);
    Ok(InstalledAction {
        grants: Grants::parse(s.map_or(&[][..], |s| &s.grants))
            .with_context(|| format!("{}: grants of `{id}`", grants_path.display()))?,
        config: Arc::new(match s {
            Some(s) => read_config(dir, &s.config)
                .with_context(|| format!("{}: config of `{id}`", grants_path.display()))?,
            None => BTreeMap::new(),
        }),
        limits: limits_of(s)
            .with_context(|| format!("{}: limits of `{id}`", grants_path.display()))?,
        plugin,
    })
}

impl ActionLookup for Catalog {
    fn manifest(&self, r: &ActionRef) -> Option<&Manifest> {
        self.actions.get(r).map(|a| &a.plugin.manifest)
    }

    fn versions(&self, id: &str) -> Vec<String> {
        self.actions
            .iter()
            .filter(|(r, _)| r.id == id)
            .map(|(_, a)| a.plugin.manifest.version.clone())
            .collect()
    }
}

fn limits_of(s: Option<&ActionSettings>) -> anyhow::Result<Limits> {
    let mut limits = Limits::default();
    let Some(s) = s else { return Ok(limits) };
    if let Some(d) = &s.deadline {
        limits.deadline = parse_duration(d).map_err(anyhow::Error::msg)?;
        anyhow::ensure!(
            limits.deadline <= crate::engine::runtime::MAX_STEP_TIME,
            "deadline `{d}` is longer than the 15m a call may take"
        );
    }
    if let Some(m) = &s.memory {
        limits.memory_bytes = parse_size(m).map_err(anyhow::Error::msg)?;
    }
    if let Some(io) = &s.max_io {
        let n = parse_size(io).map_err(anyhow::Error::msg)?;
        limits.input_bytes = n;
        limits.output_bytes = n;
    }
    if let Some(n) = s.max_changes {
        anyhow::ensure!(n > 0, "max_changes must be at least 1");
        limits.changes = n;
    }
    if let Some(b) = &s.max_change_bytes {
        limits.change_bytes = parse_size(b).map_err(anyhow::Error::msg)?;
    }
    if let Some(b) = &s.max_host_call {
        limits.host_call_bytes = parse_size(b).map_err(anyhow::Error::msg)?;
    }
    Ok(limits)
}

/// `1.2.3` (a pre-release or build suffix is ignored) as numbers.
fn semver_triplet(v: &str) -> anyhow::Result<(u64, u64, u64)> {
    let core = v.split(['-', '+']).next().unwrap_or(v);
    let mut parts = core.split('.').map(str::parse::<u64>);
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(Ok(a)), Some(Ok(b)), Some(Ok(c)), None) => Ok((a, b, c)),
        _ => anyhow::bail!("not a semantic version (MAJOR.MINOR.PATCH)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_admin_can_raise_or_lower_a_plugins_caps() {
        let settings: ActionSettings = toml::from_str(
            "max_changes = 20000\nmax_change_bytes = \"128MiB\"\nmax_host_call = \"1MiB\"",
        )
        .unwrap();
        let limits = limits_of(Some(&settings)).unwrap();
        assert_eq!(limits.changes, 20_000);
        assert_eq!(limits.change_bytes, 128 << 20);
        assert_eq!(limits.host_call_bytes, 1 << 20);
        assert_eq!(limits_of(None).unwrap(), Limits::default());
        let zero: ActionSettings = toml::from_str("max_changes = 0").unwrap();
        assert!(limits_of(Some(&zero)).is_err());
        let bad: ActionSettings = toml::from_str("max_host_call = \"lots\"").unwrap();
        assert!(format!("{:#}", limits_of(Some(&bad)).unwrap_err()).contains("`lots`"));
    }

    #[test]
    fn versions_parse_as_semver() {
        assert_eq!(semver_triplet("1.2.3").unwrap(), (1, 2, 3));
        assert_eq!(semver_triplet("2.0.0-beta.1").unwrap(), (2, 0, 0));
        assert!(semver_triplet("1.2").is_err());
        assert!(semver_triplet("one").is_err());
    }

    #[test]
    fn config_values_come_from_text_or_from_files_inside_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("templates")).unwrap();
        std::fs::write(
            dir.path().join("templates/invoice.html"),
            "<p>{{ invoice.number }}</p>",
        )
        .unwrap();
        let settings: ActionSettings = toml::from_str(
            r#"config = { "seller.inn" = "7736207543", "templates.invoice.html" = { file = "templates/invoice.html" } }"#,
        )
        .unwrap();
        let config = read_config(dir.path(), &settings.config).unwrap();
        assert_eq!(config["seller.inn"], "7736207543");
        assert_eq!(
            config["templates.invoice.html"],
            "<p>{{ invoice.number }}</p>"
        );
        for (file, says) in [
            ("../secret.txt", "relative path inside"),
            ("/etc/passwd", "relative path inside"),
            ("missing.html", "reading"),
        ] {
            let settings: ActionSettings =
                toml::from_str(&format!(r#"config = {{ "t" = {{ file = "{file}" }} }}"#)).unwrap();
            let e = format!(
                "{:#}",
                read_config(dir.path(), &settings.config).unwrap_err()
            );
            assert!(e.contains("config `t`") && e.contains(says), "{e}");
        }
    }
}
