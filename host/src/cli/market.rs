//! `robota plugin keygen|pack|publish|search|install`: the marketplace
//! from the command line (see [`crate::market`]).

use crate::market::install::{Wanted, resolve, write};
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

/// `robota plugin install <id>[@range] --registry URL --plugins DIR [--yes]`.
pub async fn install(args: &InstallArgs) -> anyhow::Result<()> {
    let wanted = Wanted::parse(&args.package)?;
    let registry = Registry::new(&args.registry, &args.namespace)?;
    let trust = TrustStore::load(&args.plugins)?;
    let host = super::plugin::host(args.cache_dir.clone(), 0)?;
    let verified = resolve(&host, &registry, &trust, &wanted).await?;
    let mut err = std::io::stderr().lock();
    write!(err, "{}", verified.consent_text())?;
    let who = std::env::var("USER").unwrap_or_else(|_| "the admin".to_owned());
    let consented_by = if args.yes {
        format!("{who} (--yes)")
    } else {
        write!(err, "Install it? [y/N] ")?;
        err.flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            anyhow::bail!("not installed: consent was not given (nothing was written)");
        }
        format!("{who} (at the prompt)")
    };
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
