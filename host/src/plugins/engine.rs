//! The engine: one wasmtime `Engine` with the pooling allocator and epoch
//! interruption, the linker with WASI (no files, env or sockets) and the
//! robota interfaces, and the plugins loaded so far.

use super::Manifest;
use super::bindings::{ActionPre, WitManifest};
use super::cache::{ComponentCache, Origin, digest};
use super::grants::{Capability, Grants};
use super::sandbox::Sandbox;
use super::state::CallState;
use super::warm::{self, WarmSlot, Warmer};
use crate::clock::{Clock, SystemClock};
use anyhow::Context as _;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, OptLevel, PoolingAllocationConfig,
};

/// How the host is set up.
#[derive(Debug, Clone)]
pub struct HostSettings {
    /// Where compiled components are cached; `None` disables the disk cache.
    pub cache_dir: Option<PathBuf>,
    /// How many calls may run at once (each holds one pooled instance).
    pub max_concurrent_calls: u32,
    /// The largest memory cap any plugin may be given, in bytes.
    pub max_memory_bytes: usize,
    /// How often the epoch advances; deadlines are accurate to about this.
    pub epoch_tick: Duration,
    /// The wall clock actions see through WASI: the server's one clock, so
    /// an action's "now" is the engine's (a moved demo clock included).
    pub clock: Arc<dyn Clock>,
    /// Actions that take at least this long to instantiate get an instance
    /// made ahead for each call (see `plugins::warm`); `None` makes none.
    pub warm_above: Option<Duration>,
}

impl Default for HostSettings {
    fn default() -> Self {
        HostSettings {
            cache_dir: Some(ComponentCache::default_dir()),
            max_concurrent_calls: 64,
            max_memory_bytes: 512 << 20,
            epoch_tick: Duration::from_millis(5),
            clock: Arc::new(SystemClock),
            // A Python action instantiates in ~0.5 ms, a Rust one in ~5 µs.
            warm_above: Some(Duration::from_micros(150)),
        }
    }
}

/// A component ready to call: compiled, linked and described.
pub struct LoadedPlugin {
    /// BLAKE3 hash of the component's bytes.
    pub digest: String,
    /// What the action says about itself.
    pub manifest: Manifest,
    /// Whether it was compiled now or loaded from the cache.
    pub from_cache: bool,
    /// How long loading took (compiling or deserialising, then describing).
    pub load_time: Duration,
    pub(crate) wanted: Grants,
    pub(crate) pre: ActionPre<CallState>,
    /// Its instance made ahead, when instantiating it is slow.
    pub(crate) warm: Option<Arc<WarmSlot>>,
}

/// Advances the engine's epoch on a timer thread until dropped.
struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl EpochTicker {
    fn start(engine: Engine, tick: Duration) -> anyhow::Result<EpochTicker> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("robota-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(tick);
                    engine.increment_epoch();
                }
            })
            .context("starting the epoch thread")?;
        Ok(EpochTicker {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Loads and runs actions.
pub struct PluginHost {
    pub(crate) engine: Engine,
    linker: Linker<CallState>,
    cache: Option<ComponentCache>,
    loaded: Mutex<HashMap<String, Arc<LoadedPlugin>>>,
    pub(crate) sandbox: Sandbox,
    pub(crate) slots: Semaphore,
    pub(crate) warmer: Warmer,
    _ticker: EpochTicker,
}

impl PluginHost {
    /// Builds the engine and linker.
    pub fn new(settings: HostSettings) -> anyhow::Result<PluginHost> {
        let n = settings.max_concurrent_calls.max(1);
        // Room for the calls, the instances made ahead and the spent stores
        // waiting to be dropped.
        let instances = n + warm::EXTRA_INSTANCES as u32;
        let mut pool = PoolingAllocationConfig::new();
        // A component built by wit-component has a handful of core instances
        // (the module, its shims and fixups) with a table each; Python and JS
        // ones a few more. Smaller pools keep slot bookkeeping cheap.
        pool.total_component_instances(instances)
            .total_core_instances(instances * 8)
            .total_memories(instances * 2)
            .total_tables(instances * 8)
            .total_stacks(instances)
            .max_core_instances_per_component(16)
            .max_memories_per_component(2)
            .max_tables_per_component(8)
            .table_elements(200_000)
            .max_component_instance_size(1 << 20)
            .max_core_instance_size(8 << 20)
            .max_memory_size(settings.max_memory_bytes)
            // Reset a used slot in place rather than unmapping it: with
            // PAGEMAP_SCAN (Linux 6.7+) only the pages the call dirtied are
            // restored, so a small action's next call takes no page faults.
            // Rust guests keep their stack and data around the first MiB;
            // Python and JS ones dirty megabytes of interpreter heap.
            .pagemap_scan(Enabled::Auto)
            .linear_memory_keep_resident(32 << 20)
            .table_keep_resident(64 << 10);
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .epoch_interruption(true)
            .cranelift_opt_level(OptLevel::Speed)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config)
            .map_err(anyhow::Error::from)
            .context("creating the wasmtime engine")?;

        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(anyhow::Error::from)?;
        super::bindings::Action::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)
            .map_err(anyhow::Error::from)?;

        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("robota/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("building the HTTP client")?;
        let ticker = EpochTicker::start(engine.clone(), settings.epoch_tick)?;
        let sandbox = Sandbox {
            engine: engine.clone(),
            http,
            clock: settings.clock.clone(),
            max_memory_bytes: settings.max_memory_bytes,
        };
        Ok(PluginHost {
            warmer: Warmer::start(sandbox.clone(), settings.warm_above)
                .context("starting the thread that makes instances ahead")?,
            sandbox,
            engine,
            linker,
            cache: settings.cache_dir.clone().map(ComponentCache::new),
            loaded: Mutex::new(HashMap::new()),
            slots: Semaphore::new(n as usize),
            _ticker: ticker,
        })
    }

    /// Forgets a loaded plugin (after an upgrade or uninstall); the next
    /// [`PluginHost::load`] of the same bytes comes from the disk cache.
    /// Calls already running keep their `Arc` and finish normally.
    pub fn unload(&self, digest: &str) -> bool {
        self.loaded
            .lock()
            .map(|mut l| l.remove(digest).is_some())
            .unwrap_or(false)
    }

    /// Loads a component from a file.
    pub async fn load_file(&self, path: &std::path::Path) -> anyhow::Result<Arc<LoadedPlugin>> {
        let bytes = tokio::fs::read(path)
            .await
            .with_context(|| format!("reading {}", path.display()))?;
        self.load(bytes)
            .await
            .with_context(|| format!("loading {}", path.display()))
    }

    /// Loads a component: compiled once (or taken from the disk cache),
    /// linked against the host, and asked to describe itself.
    pub async fn load(&self, bytes: impl Into<Vec<u8>>) -> anyhow::Result<Arc<LoadedPlugin>> {
        let started = Instant::now();
        let bytes: Vec<u8> = bytes.into();
        let digest = digest(&bytes);
        if let Some(p) = self
            .loaded
            .lock()
            .map_err(|_| anyhow::anyhow!("plugin table poisoned"))?
            .get(&digest)
        {
            return Ok(p.clone());
        }
        if !is_component(&bytes) {
            anyhow::bail!(
                "not a WebAssembly component (a core module or another file?): build with --target wasm32-wasip2 or componentize it"
            );
        }
        let (component, origin) = {
            let engine = self.engine.clone();
            let cache = self.cache.clone();
            let d = digest.clone();
            // Compiling takes seconds for big components: keep it off the async workers.
            tokio::task::spawn_blocking(move || -> anyhow::Result<(Component, Origin)> {
                match cache {
                    Some(c) => c.load_or_compile(&engine, &bytes, &d),
                    None => Ok((
                        Component::new(&engine, &bytes).map_err(anyhow::Error::from)?,
                        Origin::Compiled,
                    )),
                }
            })
            .await
            .context("the compile task failed")??
        };
        let loaded_at = started.elapsed();
        let instance_pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(anyhow::Error::from)
            .context("the component needs imports robota does not provide")?;
        let pre = ActionPre::new(instance_pre)
            .map_err(anyhow::Error::from)
            .context(
                "the component does not export the robota:plugin/action world (describe, run)",
            )?;
        let linked_at = started.elapsed();
        let wit_manifest = self.describe(&pre).await?;
        tracing::debug!(
            digest = %digest,
            ?origin,
            ?loaded_at,
            ?linked_at,
            described_at = ?started.elapsed(),
            "plugin loaded"
        );
        let manifest = manifest_from_wit(&wit_manifest)?;
        // The first instance above paid for mapping the memory image; the
        // next ones are what each call pays (the faster of two, so a busy
        // moment does not make a cheap action look slow).
        let warm = if self.warmer.warm_above.is_some() {
            let mut fastest = Duration::MAX;
            for _ in 0..2 {
                let timed = Instant::now();
                self.instantiate(&pre).await?;
                fastest = fastest.min(timed.elapsed());
            }
            self.warmer
                .keeps_warm(fastest)
                .then(|| Arc::new(WarmSlot::default()))
        } else {
            None
        };
        let plugin = Arc::new(LoadedPlugin {
            digest: digest.clone(),
            wanted: Grants::from_manifest(&wit_manifest.capabilities),
            manifest,
            from_cache: origin == Origin::Cached,
            load_time: started.elapsed(),
            pre,
            warm,
        });
        self.loaded
            .lock()
            .map_err(|_| anyhow::anyhow!("plugin table poisoned"))?
            .insert(digest, plugin.clone());
        Ok(plugin)
    }
}

/// Whether `bytes` start like a component (magic, then the component layer
/// version) rather than a core module or something else.
fn is_component(bytes: &[u8]) -> bool {
    bytes.len() >= 8 && bytes[..4] == *b"\0asm" && bytes[6..8] == [0x01, 0x00]
}

/// Checks and converts the manifest an action returned.
fn manifest_from_wit(m: &WitManifest) -> anyhow::Result<Manifest> {
    let schema = |text: &str, which: &str| -> anyhow::Result<serde_json::Value> {
        let v: serde_json::Value = serde_json::from_str(text)
            .with_context(|| format!("the manifest's {which} schema is not JSON"))?;
        anyhow::ensure!(
            v.is_object(),
            "the manifest's {which} schema is not a JSON object"
        );
        Ok(v)
    };
    anyhow::ensure!(
        !m.id.is_empty()
            && m.id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
        "the manifest's id `{}` must be lowercase letters, digits and dashes",
        m.id
    );
    let version_ok = m.version.split('.').count() == 3
        && m.version
            .split('.')
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
    anyhow::ensure!(
        version_ok,
        "the manifest's version `{}` is not MAJOR.MINOR.PATCH",
        m.version
    );
    let wanted = Grants::from_manifest(&m.capabilities);
    Ok(Manifest {
        id: m.id.clone(),
        version: m.version.clone(),
        title: m.title.clone(),
        description: m.description.clone(),
        input_schema: schema(&m.input_schema, "input")?,
        output_schema: schema(&m.output_schema, "output")?,
        capabilities: wanted.capabilities().collect::<Vec<Capability>>(),
        http_hosts: wanted.http_hosts().to_vec(),
    })
}
