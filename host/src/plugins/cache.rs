//! The on-disk cache of precompiled components.
//!
//! Compiling a component is expensive (a Python component takes seconds), so
//! the compiled artifact is kept on disk under a key made of the component's
//! BLAKE3 hash, the wasmtime version and the engine's compatibility hash: the same
//! bytes on the same engine load without compiling; any change of either
//! compiles afresh.

use anyhow::Context as _;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use wasmtime::Engine;
use wasmtime::component::Component;

/// A folder of `.cwasm` files.
#[derive(Debug, Clone)]
pub struct ComponentCache {
    dir: PathBuf,
}

/// Where a loaded component came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Compiled now (and written to the cache).
    Compiled,
    /// Loaded precompiled from the cache.
    Cached,
}

/// The BLAKE3 hash of `bytes`, in hex: a component's identity. BLAKE3 rather
/// than SHA-256 because it hashes an 18 MB Python component in a few
/// milliseconds on CPUs without SHA extensions (SHA-256 took ~50 ms here),
/// and hashing is on the path of every load.
pub fn digest(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}

impl ComponentCache {
    /// A cache in `dir` (created when first written).
    pub fn new(dir: impl Into<PathBuf>) -> ComponentCache {
        ComponentCache { dir: dir.into() }
    }

    /// The default folder: `$XDG_CACHE_HOME/robota/components`, or
    /// `~/.cache/robota/components`, or a folder under the system temp dir.
    pub fn default_dir() -> PathBuf {
        let base = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))
            .unwrap_or_else(std::env::temp_dir);
        base.join("robota").join("components")
    }

    /// The file a component's compiled form lives in.
    pub fn path_for(&self, engine: &Engine, component_digest: &str) -> PathBuf {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let engine_key = format!("{:016x}", hasher.finish());
        let key = digest(
            format!(
                "{component_digest}/{}/{engine_key}",
                env!("CARGO_PKG_VERSION")
            )
            .as_bytes(),
        );
        self.dir.join(format!("{key}.cwasm"))
    }

    /// The component for `bytes`, from the cache if it is there, else compiled
    /// and stored. A cache file that cannot be loaded is replaced.
    pub fn load_or_compile(
        &self,
        engine: &Engine,
        bytes: &[u8],
        component_digest: &str,
    ) -> anyhow::Result<(Component, Origin)> {
        let path = self.path_for(engine, component_digest);
        if path.exists() {
            // SAFETY: the file is in robota's own cache folder and was written
            // by `Component::serialize` below; wasmtime checks that it was made
            // by a compatible engine before using it.
            match unsafe { Component::deserialize_file(engine, &path) } {
                Ok(component) => return Ok((component, Origin::Cached)),
                Err(e) => {
                    tracing::warn!(path = %path.display(), "ignoring unusable cached component: {e:#}")
                }
            }
        }
        let component = Component::new(engine, bytes)
            .map_err(anyhow::Error::from)
            .context("compiling the component")?;
        if let Err(e) = self.store(&path, &component) {
            // A read-only cache only costs time, never correctness.
            tracing::warn!(path = %path.display(), "could not cache the compiled component: {e:#}");
        }
        Ok((component, Origin::Compiled))
    }

    fn store(&self, path: &Path, component: &Component) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("creating {}", self.dir.display()))?;
        let bytes = component.serialize().map_err(anyhow::Error::from)?;
        // Write then rename, so a concurrent reader never sees half a file.
        let tmp = path.with_extension(format!("tmp-{}", uuid::Uuid::now_v7()));
        std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
        Ok(())
    }
}
