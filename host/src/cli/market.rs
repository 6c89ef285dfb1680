//! `robota plugin keygen|pack|publish|search|install`: the marketplace
//! from the command line (see [`crate::market`]).

use crate::market::install::{Lock, Upgrade, Wanted, resolve, write};
use crate::market::keys::{self, TrustStore};
use crate::market::oci::Registry;
use crate::market::package::{self, Publishing};
use anyhow::Context as _;
use clap::Args;
use std::io::{BufRead as _, Write as _};
use std::path::{Path, PathBuf};

/// What `pack` and `publish` take.
#[derive(Debug, Args)]
pub struct PackArgs {
    /// The component, a .wasm file.
    pub plugin: PathBuf,
    /// The publisher's name, shown to admins.
    #[arg(long)]
    pub publisher: Option<String>,
    /// The licence (SPDX), such as Apache-2.0.
    #[arg(long)]
    pub licence: Option<String>,
    /// The action's homepage.
    #[arg(long)]
    pub homepage: Option<String>,
    /// Where compiled components are cached.
    #[arg(long, env = "ROBOTA_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
}

/// What `install` takes.
#[derive(Debug, Args)]
pub struct InstallArgs {
    /// `id` or `id@<semver range>`, such as add-note@^1.
    pub package: String,
    /// The registry.
    #[arg(long)]
    pub registry: String,
    /// The namespace.
    #[arg(long, default_value = "robota")]
    pub namespace: String,
    /// The plugins folder of the server (with plugins.toml and
    /// trusted-publishers.toml).
    #[arg(long)]
    pub plugins: PathBuf,
    /// Consent without asking (for scripts): the capabilities are still printed.
    #[arg(long)]
    pub yes: bool,
    /// Where compiled components are cached.
    #[arg(long, env = "ROBOTA_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
}

/// What a running server needs after the folder changed.
const RELOAD_HINT: &str =
    "a running server takes the change at POST /api/v1/plugins/reload (or a restart)";

/// `robota plugin keygen --out FILE`.
pub fn keygen(out: &Path) -> anyhow::Result<()> {
    let public = keys::keygen(out)?;
    println!("secret key: {} (keep it to yourself)", out.display());
    println!("public key: {public}");
    println!(
        "  (also in {}; admins add it to their plugins folder's {}: [publishers] <name> = \"{public}\")",
        keys::pub_path(out).display(),
        keys::TRUST_FILE
    );
    Ok(())
}

async fn packed(args: &PackArgs) -> anyhow::Result<package::Package> {
    let host = super::plugin::host(args.cache_dir.clone(), 0)?;
    let wasm = std::fs::read(&args.plugin)
        .with_context(|| format!("reading {}", args.plugin.display()))?;
    package::pack(
        &host,
        wasm,
        &Publishing {
            publisher: args.publisher.clone(),
            licence: args.licence.clone(),
            homepage: args.homepage.clone(),
        },
    )
    .await
}

/// `robota plugin pack <plugin.wasm>`: the package manifest, as JSON.
pub async fn pack(args: &PackArgs) -> anyhow::Result<()> {
    let package = packed(args).await?;
    println!("{}", serde_json::to_string_pretty(&package.manifest)?);
    Ok(())
}

/// `robota plugin publish <plugin.wasm> --registry URL --key FILE`.
pub async fn publish(
    args: &PackArgs,
    registry: &str,
    key: &Path,
    namespace: &str,
) -> anyhow::Result<()> {
    let key = keys::load_secret(key)?;
    let package = packed(args).await?;
    let registry = Registry::new(registry, namespace)?;
    let digest = registry.publish(&package, &key).await?;
    let m = &package.manifest;
    println!(
        "published {} {} as {}/{}:{}",
        m.id,
        m.version,
        registry.url(),
        registry.repository(&m.id),
        m.version
    );
    println!(
        "manifest {digest}, signed by key {}",
        keys::key_id(&key.verifying_key())
    );
    Ok(())
}

/// `robota plugin publish-standard --registry URL --key FILE`: every
/// standard action embedded in this binary, packed and signed.
pub async fn publish_standard(
    registry: &str,
    key: &Path,
    namespace: &str,
    publisher: &str,
    cache_dir: Option<PathBuf>,
) -> anyhow::Result<()> {
    let key = keys::load_secret(key)?;
    let registry = Registry::new(registry, namespace)?;
    let host = super::plugin::host(cache_dir, 0)?;
    let publishing = Publishing {
        publisher: Some(publisher.to_owned()),
        licence: Some("Apache-2.0".to_owned()),
        homepage: None,
    };
    for (name, bytes) in robota_plugin_artifacts::STANDARD {
        let package = package::pack(&host, bytes.to_vec(), &publishing)
            .await
            .with_context(|| format!("packing the embedded {name}"))?;
        let digest = registry.publish(&package, &key).await?;
        println!(
            "published {} {} ({digest})",
            package.manifest.id, package.manifest.version
        );
    }
    Ok(())
}

/// `robota plugin search <word> --registry URL`.
pub async fn search(word: &str, registry: &str, namespace: &str) -> anyhow::Result<()> {
    let registry = Registry::new(registry, namespace)?;
    let found = registry.search(word).await?;
    if found.is_empty() {
        println!("nothing in {} matches `{word}`", registry.url());
    }
    for f in found {
        println!(
            "{}\t{}\t{}\t{} (versions: {})",
            f.id,
            f.version,
            f.title,
            f.description,
            f.versions.join(", ")
        );
    }
    Ok(())
}

/// Asks on the terminal (after `text` on stderr); `yes` answers for a
/// script. Returns who consented, or an error saying nothing was written.
fn consent(text: &str, yes: bool) -> anyhow::Result<String> {
    let mut err = std::io::stderr().lock();
    write!(err, "{text}")?;
    let who = std::env::var("USER").unwrap_or_else(|_| "the admin".to_owned());
    if yes {
        return Ok(format!("{who} (--yes)"));
    }
    write!(err, "Install it? [y/N] ")?;
    err.flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if !matches!(answer.trim(), "y" | "Y" | "yes") {
        anyhow::bail!("not installed: consent was not given (nothing was written)");
    }
    Ok(format!("{who} (at the prompt)"))
}

/// `robota plugin upgrade <id> --plugins DIR [--yes]`.
pub async fn upgrade(
    id: &str,
    plugins: &Path,
    namespace: &str,
    yes: bool,
    cache_dir: Option<PathBuf>,
) -> anyhow::Result<()> {
    let trust = TrustStore::load(plugins)?;
    let host = super::plugin::host(cache_dir, 0)?;
    let (registry, plan) =
        crate::market::install::plan_upgrade(&host, plugins, namespace, &trust, id).await?;
    match plan {
        Upgrade::Current {
            version,
            newer_major,
        } => {
            println!("{id} {version} is the newest of its major version");
            if let Some(v) = newer_major {
                println!(
                    "{v} is a new major version: install {id}@{} to have it side by side (processes say which they use)",
                    v.major
                );
            }
            Ok(())
        }
        Upgrade::Ready {
            verified,
            from,
            new_capabilities,
            new_hosts,
        } => {
            let m = &verified.fetched.manifest;
            let consented_by = if new_capabilities.is_empty() && new_hosts.is_empty() {
                format!("as granted for {} {}", from.id, from.version)
            } else {
                let mut text = format!(
                    "{id} {} asks for more than {} was granted:\n",
                    m.version, from.version
                );
                for cap in &new_capabilities {
                    text.push_str(&format!(
                        "  - {}\n",
                        crate::market::package::in_words(cap, &m.http_hosts)
                    ));
                }
                for host in &new_hosts {
                    text.push_str(&format!("  - reach {host} (http.fetch)\n"));
                }
                consent(&text, yes)
                    .map_err(|e| anyhow::anyhow!("{e}; {id} stays at {}", from.version))?
            };
            let entry = crate::market::install::apply_upgrade(
                plugins,
                &registry,
                &verified,
                &from,
                &new_capabilities,
                &consented_by,
            )?;
            println!(
                "upgraded {id} {} → {} ({}); granted: {}",
                from.version,
                entry.version,
                entry.digest,
                entry.granted.join(", ")
            );
            println!("{RELOAD_HINT}");
            Ok(())
        }
    }
}

/// `robota plugin list --plugins DIR`.
pub fn list(plugins: &Path) -> anyhow::Result<()> {
    let lock = Lock::load(plugins)?;
    if lock.packages.is_empty() {
        println!("nothing installed from a registry in {}", plugins.display());
    }
    for p in lock.packages {
        println!(
            "{}\t{}\t{}\t{}\tgranted: {}\tby {}\tconsented: {}",
            p.id,
            p.version,
            p.digest,
            p.repository,
            p.granted.join(", "),
            p.publisher,
            p.consented_by
        );
    }
    Ok(())
}

/// `robota plugin remove <id>[@major] --plugins DIR --db URL`.
pub async fn remove(package: &str, plugins: &Path, db: &str) -> anyhow::Result<()> {
    let (id, major) = match package.split_once('@') {
        Some((id, m)) => (
            id,
            Some(m.parse::<u64>().with_context(|| {
                format!("`{package}`: give the major version as a number, such as {id}@1")
            })?),
        ),
        None => (package, None),
    };
    let store = crate::store::open_existing(db).await?;
    let processes = crate::market::install::enabled_processes(store.as_ref()).await?;
    let gone = crate::market::install::remove(plugins, id, major, &processes)?;
    for p in gone {
        println!("removed {} {} ({})", p.id, p.version, p.file);
    }
    println!("its section in plugins.toml is left as it is");
    println!("{RELOAD_HINT}");
    Ok(())
}

/// `robota plugin install <id>[@range] --registry URL --plugins DIR [--yes]`.
pub async fn install(args: &InstallArgs) -> anyhow::Result<()> {
    let wanted = Wanted::parse(&args.package)?;
    let registry = Registry::new(&args.registry, &args.namespace)?;
    let trust = TrustStore::load(&args.plugins)?;
    let host = super::plugin::host(args.cache_dir.clone(), 0)?;
    let verified = resolve(&host, &registry, &trust, &wanted).await?;
    let consented_by = consent(&verified.consent_text(), args.yes)?;
    let entry = write(&args.plugins, &registry, &verified, &consented_by)?;
    println!(
        "installed {} {} ({}) into {}; granted: {}",
        entry.id,
        entry.version,
        entry.digest,
        args.plugins.join(&entry.file).display(),
        if entry.granted.is_empty() {
            "nothing".to_owned()
        } else {
            entry.granted.join(", ")
        }
    );
    if verified
        .fetched
        .manifest
        .capabilities
        .iter()
        .any(|c| c == "http.fetch")
    {
        println!(
            "it asks for http.fetch: name the hosts it may reach in plugins.toml ([actions.{}] grants = [\"http.fetch=HOST\"])",
            entry.id
        );
    }
    println!("{RELOAD_HINT}");
    Ok(())
}

/// `robota plugin sync --plugins DIR`: what the lock pins, installed.
pub async fn sync(
    plugins: &Path,
    namespace: &str,
    cache_dir: Option<PathBuf>,
) -> anyhow::Result<()> {
    let trust = TrustStore::load(plugins)?;
    let host = super::plugin::host(cache_dir, 0)?;
    let done = crate::market::install::sync(&host, plugins, namespace, &trust).await?;
    for entry in done {
        println!(
            "installed {} {} ({}) as pinned; granted: {}",
            entry.id,
            entry.version,
            entry.digest,
            entry.granted.join(", ")
        );
    }
    Ok(())
}
