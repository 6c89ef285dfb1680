//! Installing a package: the highest version a range allows, verified
//! (digests, the publisher's signature against the admin's trust store,
//! the component's own `describe` against the manifest), shown to the
//! admin in plain words, and written only after consent — the component
//! into the plugins folder, its grants into `plugins.toml`, and an entry
//! in `plugins.lock` pinning the manifest digest. Nothing is written
//! before every check passed.

use super::keys::TrustStore;
use super::oci::{Fetched, Registry};
use super::package::{check_matches, in_words};
use crate::plugins::PluginHost;
use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The lock file's name, in the plugins folder.
pub const LOCK_FILE: &str = "plugins.lock";

/// One installed package, as the lock pins it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Locked {
    /// The action's id.
    pub id: String,
    /// Its version.
    pub version: String,
    /// The registry it came from.
    pub registry: String,
    /// Its repository there.
    pub repository: String,
    /// The manifest digest installed.
    pub digest: String,
    /// The publisher whose key signed it (the trust store's name).
    pub publisher: String,
    /// The capabilities granted at install.
    pub granted: Vec<String>,
    /// The hosts it asked to reach with `http.fetch`.
    #[serde(default)]
    pub http_hosts: Vec<String>,
    /// Who consented (`--yes` by whom, or the answer at the prompt).
    pub consented_by: String,
    /// The component's file in the plugins folder.
    pub file: String,
}

/// `plugins.lock`: every installed package.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lock {
    /// The packages, by id and version.
    #[serde(default, rename = "package")]
    pub packages: Vec<Locked>,
}

impl Lock {
    /// The lock of plugins folder `dir` (empty if it has none).
    pub fn load(dir: &Path) -> anyhow::Result<Lock> {
        let path = dir.join(LOCK_FILE);
        if !path.exists() {
            return Ok(Lock::default());
        }
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("{}: not valid", path.display()))
    }

    fn save(&self, dir: &Path) -> anyhow::Result<()> {
        let text = format!(
            "# Written by `robota plugin install`: what is installed, pinned by digest.\n{}",
            toml::to_string(self)?
        );
        write_atomically(&dir.join(LOCK_FILE), text.as_bytes())
    }
}

/// What to install.
#[derive(Debug, Clone)]
pub struct Wanted {
    /// The action's id.
    pub id: String,
    /// The versions allowed (`*` for any).
    pub range: semver::VersionReq,
}

impl Wanted {
    /// `id` or `id@<semver range>` (`add-note@^1.2`, `add-note@1`).
    pub fn parse(text: &str) -> anyhow::Result<Wanted> {
        let (id, range) = match text.split_once('@') {
            Some((id, range)) => (
                id,
                semver::VersionReq::parse(range).with_context(|| {
                    format!("`{range}` is not a semver range such as ^1.2 or 1")
                })?,
            ),
            None => (text, semver::VersionReq::STAR),
        };
        super::package::check_id(id)?;
        Ok(Wanted {
            id: id.to_owned(),
            range,
        })
    }
}

/// A verified package, ready for consent.
pub struct Verified {
    /// What the registry holds.
    pub fetched: Fetched,
    /// Whose key signed it.
    pub publisher: String,
}

impl Verified {
    /// What the admin is asked: the package and each capability in words.
    pub fn consent_text(&self) -> String {
        let m = &self.fetched.manifest;
        let mut text = format!(
            "{} {} — {}\npublished by {} (signature verified), manifest {}\nit asks to:\n",
            m.id, m.version, m.title, self.publisher, self.fetched.digest
        );
        if m.capabilities.is_empty() {
            text.push_str("  nothing: no capabilities\n");
        }
        for cap in &m.capabilities {
            text.push_str(&format!("  - {}\n", in_words(cap, &m.http_hosts)));
        }
        text
    }
}

/// Finds the highest version of `wanted` in `registry`, fetches it and
/// checks it: digests, signature, and that its component is what its
/// manifest says.
pub async fn resolve(
    host: &PluginHost,
    registry: &Registry,
    trust: &TrustStore,
    wanted: &Wanted,
) -> anyhow::Result<Verified> {
    let versions = registry.versions(&wanted.id).await?;
    let Some(version) = versions.iter().rev().find(|v| wanted.range.matches(v)) else {
        let have: Vec<String> = versions.iter().map(ToString::to_string).collect();
        anyhow::bail!(
            "no version of `{}` matches {} (the registry has {})",
            wanted.id,
            wanted.range,
            if have.is_empty() {
                "none".to_owned()
            } else {
                have.join(", ")
            }
        );
    };
    let fetched = registry.fetch(&wanted.id, &version.to_string()).await?;
    verify(host, trust, fetched).await
}

/// Checks a fetched package: its signature against `trust` and its
/// component against its manifest.
pub async fn verify(
    host: &PluginHost,
    trust: &TrustStore,
    fetched: Fetched,
) -> anyhow::Result<Verified> {
    let publisher = trust.verify(&fetched.digest, fetched.signature.as_ref())?;
    let plugin = host
        .load(fetched.wasm.clone())
        .await
        .context("the package's component does not load")?;
    check_matches(&fetched.manifest, &plugin)?;
    Ok(Verified { fetched, publisher })
}

/// Writes a verified, consented package into plugins folder `dir`: the
/// component, its grants (unless `plugins.toml` already names the action)
/// and its lock entry. Returns the entry.
pub fn write(
    dir: &Path,
    registry: &Registry,
    verified: &Verified,
    consented_by: &str,
) -> anyhow::Result<Locked> {
    let m = &verified.fetched.manifest;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let file = format!("{}-{}.wasm", m.id, m.version);
    let granted: Vec<String> = m
        .capabilities
        .iter()
        .filter(|c| c.as_str() != "http.fetch")
        .cloned()
        .collect();
    write_atomically(&dir.join(&file), &verified.fetched.wasm)?;
    add_grants(dir, &m.id, &granted)?;
    let entry = Locked {
        id: m.id.clone(),
        version: m.version.clone(),
        registry: registry.url().to_owned(),
        repository: registry.repository(&m.id),
        digest: verified.fetched.digest.clone(),
        publisher: verified.publisher.clone(),
        granted,
        http_hosts: m.http_hosts.clone(),
        consented_by: consented_by.to_owned(),
        file,
    };
    let mut lock = Lock::load(dir)?;
    lock.packages
        .retain(|p| !(p.id == entry.id && p.version == entry.version));
    lock.packages.push(entry.clone());
    lock.packages
        .sort_by(|a, b| (&a.id, &a.version).cmp(&(&b.id, &b.version)));
    lock.save(dir)?;
    Ok(entry)
}

/// What `upgrade` found for an action.
pub enum Upgrade {
    /// The installed version is the newest of its major version.
    Current {
        /// The installed version.
        version: String,
        /// A newer major version in the registry, if any (installed side
        /// by side, never by an upgrade).
        newer_major: Option<semver::Version>,
    },
    /// A newer version of the same major, verified.
    Ready {
        /// The new package.
        verified: Box<Verified>,
        /// What is installed now.
        from: Box<Locked>,
        /// Capabilities it asks for that were not granted.
        new_capabilities: Vec<String>,
        /// Hosts it asks to reach that it did not ask for before.
        new_hosts: Vec<String>,
    },
}

/// Finds the newest version of installed action `id` within the major
/// version installed (the highest one, if several are side by side), and
/// verifies it; what it asks for beyond what was granted is listed.
pub async fn plan_upgrade(
    host: &PluginHost,
    dir: &Path,
    namespace: &str,
    trust: &TrustStore,
    id: &str,
) -> anyhow::Result<(Registry, Upgrade)> {
    let lock = Lock::load(dir)?;
    let installed = lock
        .packages
        .iter()
        .filter(|p| p.id == id)
        .filter_map(|p| semver::Version::parse(&p.version).ok().map(|v| (v, p)))
        .max_by(|a, b| a.0.cmp(&b.0))
        .with_context(|| {
            format!(
                "`{id}` is not installed from a registry here ({} has no entry): install it first",
                dir.join(LOCK_FILE).display()
            )
        })?;
    let (current, from) = installed;
    let registry = Registry::new(&from.registry, namespace)?;
    let versions = registry.versions(id).await?;
    let same_major = versions
        .iter()
        .filter(|v| v.major == current.major && **v > current)
        .max();
    let Some(next) = same_major else {
        return Ok((
            registry,
            Upgrade::Current {
                version: current.to_string(),
                newer_major: versions
                    .iter()
                    .filter(|v| v.major > current.major)
                    .max()
                    .cloned(),
            },
        ));
    };
    let fetched = registry.fetch(id, &next.to_string()).await?;
    let verified = verify(host, trust, fetched).await?;
    let m = &verified.fetched.manifest;
    let new_capabilities = m
        .capabilities
        .iter()
        .filter(|c| !from.granted.contains(c) && c.as_str() != "http.fetch")
        .cloned()
        .chain(
            // http.fetch is the admin's to grant host by host: new hosts
            // are asked about below, a first http.fetch here.
            m.capabilities
                .iter()
                .filter(|c| c.as_str() == "http.fetch" && from.http_hosts.is_empty())
                .cloned(),
        )
        .collect();
    let new_hosts = m
        .http_hosts
        .iter()
        .filter(|h| !from.http_hosts.contains(h))
        .cloned()
        .collect();
    Ok((
        registry,
        Upgrade::Ready {
            verified: Box::new(verified),
            from: Box::new(from.clone()),
            new_capabilities,
            new_hosts,
        },
    ))
}

/// Replaces `from` with the upgraded package: its component written (the
/// old one of that major moved to `superseded/`, where runs that started
/// with it find it until they end), the new capabilities granted (the
/// admin consented to them), the lock updated.
pub fn apply_upgrade(
    dir: &Path,
    registry: &Registry,
    verified: &Verified,
    from: &Locked,
    new_capabilities: &[String],
    consented_by: &str,
) -> anyhow::Result<Locked> {
    let entry = write(dir, registry, verified, consented_by)?;
    let granted: Vec<String> = from
        .granted
        .iter()
        .chain(
            new_capabilities
                .iter()
                .filter(|c| c.as_str() != "http.fetch"),
        )
        .cloned()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    grant(dir, &entry.id, &granted, true)?;
    if from.file != entry.file {
        let old = dir.join(&from.file);
        if old.exists() {
            let kept = dir.join(crate::engine::catalog::SUPERSEDED_DIR);
            std::fs::create_dir_all(&kept)
                .with_context(|| format!("creating {}", kept.display()))?;
            std::fs::rename(&old, kept.join(&from.file))
                .with_context(|| format!("moving {} to {}", old.display(), kept.display()))?;
        }
    }
    let mut lock = Lock::load(dir)?;
    lock.packages
        .retain(|p| !(p.id == from.id && p.version == from.version));
    for p in &mut lock.packages {
        if p.id == entry.id && p.version == entry.version {
            p.granted = granted.clone();
        }
    }
    lock.save(dir)?;
    Ok(Locked { granted, ..entry })
}

/// Why a removal was refused.
#[derive(Debug, thiserror::Error)]
pub enum RemoveError {
    /// The lock has no such package.
    #[error("`{0}` is not installed from a registry here")]
    NotInstalled(String),
    /// Enabled processes use it.
    #[error(
        "`{id}` is used by the enabled process(es) {}: disable them or change their steps first; nothing was removed",
        .processes.join(", ")
    )]
    InUse {
        /// The action.
        id: String,
        /// The processes using it.
        processes: Vec<String>,
    },
    /// Reading or writing the folder failed.
    #[error(transparent)]
    Folder(#[from] anyhow::Error),
}

/// The enabled processes of `store` as (id, source): what a removal checks.
pub async fn enabled_processes(
    store: &impl crate::store::processes::Processes,
) -> anyhow::Result<Vec<(String, String)>> {
    Ok(store
        .current_processes()
        .await?
        .into_iter()
        .filter(|p| p.enabled)
        .map(|p| (p.process_id, p.source))
        .collect())
}

/// Removes installed action `id` (every version, or those of `major`):
/// refused while an enabled process of `processes` (id, source) uses it.
/// Returns the entries removed.
pub fn remove(
    dir: &Path,
    id: &str,
    major: Option<u64>,
    processes: &[(String, String)],
) -> Result<Vec<Locked>, RemoveError> {
    let mut lock = Lock::load(dir)?;
    let (gone, kept): (Vec<Locked>, Vec<Locked>) = lock.packages.drain(..).partition(|p| {
        p.id == id
            && major.is_none_or(|m| semver::Version::parse(&p.version).is_ok_and(|v| v.major == m))
    });
    if gone.is_empty() {
        return Err(RemoveError::NotInstalled(format!(
            "{id}{}",
            major.map(|m| format!("@{m}")).unwrap_or_default()
        )));
    }
    let majors: Vec<u64> = gone
        .iter()
        .filter_map(|p| semver::Version::parse(&p.version).ok().map(|v| v.major))
        .collect();
    let mut users = Vec::new();
    for (process, source) in processes {
        let Ok((parsed, _)) = crate::engine::definition::parse(process, source) else {
            continue;
        };
        let uses = parsed.steps.iter().any(|s| match &s.work {
            crate::engine::definition::Work::Action { uses, .. } => {
                uses.id == id && majors.contains(&uses.major)
            }
            crate::engine::definition::Work::Approval(_) => false,
        });
        if uses {
            users.push(process.clone());
        }
    }
    if !users.is_empty() {
        return Err(RemoveError::InUse {
            id: id.to_owned(),
            processes: users,
        });
    }
    for p in &gone {
        let file = dir.join(&p.file);
        if file.exists() {
            std::fs::remove_file(&file).with_context(|| format!("removing {}", file.display()))?;
        }
    }
    lock.packages = kept;
    lock.save(dir)?;
    Ok(gone)
}

/// Installs exactly what `plugins.lock` in `dir` pins (a second server
/// copying the first): each package fetched by its manifest digest,
/// verified against `trust`, its component written with the grants the
/// lock records. Components already there with the pinned bytes are kept.
/// Returns the entries installed.
pub async fn sync(
    host: &PluginHost,
    dir: &Path,
    namespace: &str,
    trust: &TrustStore,
) -> anyhow::Result<Vec<Locked>> {
    let lock = Lock::load(dir)?;
    anyhow::ensure!(
        !lock.packages.is_empty(),
        "{} pins nothing: copy the first server's lock here first",
        dir.join(LOCK_FILE).display()
    );
    // Everything is fetched and verified before anything is written.
    let mut ready = Vec::new();
    for entry in &lock.packages {
        let registry = Registry::new(&entry.registry, namespace)?;
        anyhow::ensure!(
            registry.repository(&entry.id) == entry.repository,
            "{} {}: the lock names repository {}, not {} (give --namespace)",
            entry.id,
            entry.version,
            entry.repository,
            registry.repository(&entry.id)
        );
        let fetched = registry.fetch_pinned(&entry.id, &entry.digest).await?;
        let verified = verify(host, trust, fetched).await?;
        anyhow::ensure!(
            verified.fetched.manifest.version == entry.version,
            "{}: manifest {} is version {}, the lock says {}",
            entry.id,
            entry.digest,
            verified.fetched.manifest.version,
            entry.version
        );
        ready.push((entry, verified));
    }
    for (entry, verified) in &ready {
        write_atomically(&dir.join(&entry.file), &verified.fetched.wasm)?;
        add_grants(dir, &entry.id, &entry.granted)?;
    }
    Ok(lock.packages)
}

/// Grants action `id` `caps` in `plugins.toml`, keeping the admin's
/// comments and layout: a new `[actions.<id>]` section when there is none;
/// with `extend`, the caps added to an existing one's `grants` too (an
/// upgrade the admin consented to). `http.fetch` is never granted here: its
/// hosts are the admin's to name.
fn add_grants(dir: &Path, id: &str, caps: &[String]) -> anyhow::Result<()> {
    grant(dir, id, caps, false)
}

fn grant(dir: &Path, id: &str, caps: &[String], extend: bool) -> anyhow::Result<()> {
    let path = dir.join(crate::engine::catalog::GRANTS_FILE);
    let text = if path.exists() {
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?
    } else {
        String::new()
    };
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .with_context(|| format!("{}: not valid", path.display()))?;
    let actions = doc
        .entry("actions")
        .or_insert_with(|| {
            let mut t = toml_edit::Table::new();
            t.set_implicit(true);
            toml_edit::Item::Table(t)
        })
        .as_table_mut()
        .with_context(|| format!("{}: `actions` is not a table", path.display()))?;
    let existed = actions.contains_key(id);
    if existed && !extend {
        return Ok(());
    }
    let section = actions
        .entry(id)
        .or_insert_with(|| toml_edit::Item::Table(toml_edit::Table::new()))
        .as_table_mut()
        .with_context(|| format!("{}: `actions.{id}` is not a table", path.display()))?;
    if !existed {
        section
            .decor_mut()
            .set_prefix("\n# Granted at install (robota plugin install).\n");
    }
    let grants = section
        .entry("grants")
        .or_insert_with(|| toml_edit::value(toml_edit::Array::new()))
        .as_array_mut()
        .with_context(|| format!("{}: `actions.{id}.grants` is not a list", path.display()))?;
    for cap in caps {
        if !grants.iter().any(|g| g.as_str() == Some(cap.as_str())) {
            grants.push(cap.as_str());
        }
    }
    write_atomically(&path, doc.to_string().as_bytes())
}

/// Writes `bytes` to `path` through a temporary file in the same folder,
/// so a reader never sees half a file.
fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp: PathBuf = dir.join(format!(
        ".{}.partial",
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    ));
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_wanted_package_is_an_id_and_a_range() {
        let w = Wanted::parse("add-note@^1.2").unwrap();
        assert_eq!(w.id, "add-note");
        assert!(w.range.matches(&semver::Version::new(1, 9, 0)));
        assert!(!w.range.matches(&semver::Version::new(2, 0, 0)));
        assert_eq!(
            Wanted::parse("add-note").unwrap().range,
            semver::VersionReq::STAR
        );
        assert!(Wanted::parse("add-note@banana").is_err());
        assert!(Wanted::parse("Add_Note").is_err());
    }

    #[test]
    fn grants_are_added_once_and_the_admins_own_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        add_grants(dir.path(), "add-note", &["crm.read".into()]).unwrap();
        add_grants(dir.path(), "add-note", &["crm.write".into()]).unwrap();
        let text = std::fs::read_to_string(dir.path().join("plugins.toml")).unwrap();
        let t: toml::Table = toml::from_str(&text).unwrap();
        assert_eq!(
            t["actions"]["add-note"]["grants"],
            toml::Value::from(vec!["crm.read"])
        );
    }
}
