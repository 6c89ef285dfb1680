//! The `robota` command line: argument parsing and dispatch.
//!
//! Each subcommand lives in its own module; this one only says what the
//! commands and flags are.

mod bench;
pub mod demo;
mod market;
mod plugin;
mod process;
mod runs;
mod serve;

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// robota: CRM automation whose actions are sandboxed WebAssembly components.
#[derive(Debug, Parser)]
#[command(name = "robota", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Work with action plugins (Wasm components).
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Create the database if missing and apply pending migrations.
    Migrate {
        /// The database: sqlite://robota.db, or postgres://USER@HOST/DB.
        #[arg(long, env = "ROBOTA_DB", default_value = "sqlite://robota.db")]
        db: String,
    },
    /// Run the engine and the HTTP API.
    Serve(ServeArgs),
    /// Serve on a local SQLite file with demo data, the standard actions and the example processes.
    Demo {
        /// The folder for the demo's database, plugins and processes.
        #[arg(long, default_value = "robota-demo")]
        dir: PathBuf,
        /// The address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        /// Where compiled components are cached.
        #[arg(long, env = "ROBOTA_CACHE_DIR")]
        cache_dir: Option<PathBuf>,
    },
    /// Work with process files.
    #[command(subcommand)]
    Process(ProcessCommand),
    /// Work with API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Work with CRM users.
    #[command(subcommand)]
    User(UserCommand),
    /// Inspect and steer runs.
    #[command(subcommand)]
    Run(RunCommand),
    /// Measure the engine: completed runs per second and trigger-to-completion latency.
    Bench {
        /// Runs in the throughput phase.
        #[arg(long, default_value_t = 3000)]
        runs: usize,
        /// Runs in the latency phase (at half the measured throughput).
        #[arg(long, default_value_t = 1000)]
        latency_runs: usize,
        /// Start the latency phase's runs at this many per second instead
        /// of half the measured throughput.
        #[arg(long)]
        rate: Option<f64>,
        /// SQLite durability: full or normal.
        #[arg(long, default_value = "full", value_parser = ["full", "normal"])]
        synchronous: String,
        /// Steps in hand at once (running or waiting for their commit).
        #[arg(long, default_value_t = crate::engine::workers::WorkerSettings::default().workers)]
        workers: usize,
        /// Where compiled components are cached.
        #[arg(long, env = "ROBOTA_CACHE_DIR")]
        cache_dir: Option<PathBuf>,
        /// An empty database to run on (default: a scratch SQLite file),
        /// e.g. postgres://robota@127.0.0.1/bench.
        #[arg(long)]
        db: Option<String>,
        /// Engines sharing the database, each with its own pool and loops
        /// (more than one needs --db postgres://…).
        #[arg(long, default_value_t = 1)]
        nodes: usize,
    },
}

/// `robota serve` flags.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The database, e.g. sqlite://robota.db.
    #[arg(long, env = "ROBOTA_DB", default_value = "sqlite://robota.db")]
    pub db: String,
    /// The address to listen on (port 0 picks a free one).
    #[arg(long, env = "ROBOTA_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// The folder of installed actions (*.wasm and plugins.toml with their grants).
    #[arg(long, env = "ROBOTA_PLUGINS")]
    pub plugins: Option<PathBuf>,
    /// The folder of process files (*.toml), installed at start.
    #[arg(long, env = "ROBOTA_PROCESSES")]
    pub processes: Option<PathBuf>,
    /// How many steps may be in hand at once (default 32).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Let an admin move the engine's clock forward (POST /api/v1/dev/clock); for tests and demos.
    #[arg(long)]
    pub dev_clock: bool,
    /// SQLite durability: full (survives power loss) or normal (faster).
    #[arg(long, default_value = "full", value_parser = ["full", "normal"])]
    pub synchronous: String,
    /// On PostgreSQL: seconds a step claimed by a node that died waits
    /// before another node runs it (a live node renews its claims).
    #[arg(long, env = "ROBOTA_STEP_LEASE", default_value_t = 30)]
    pub step_lease: u64,
    /// Where compiled components are cached.
    #[arg(long, env = "ROBOTA_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
    /// The SMTP server the outbox is delivered through (none: mail waits in the outbox).
    #[arg(long, env = "ROBOTA_SMTP_HOST")]
    pub smtp_host: Option<String>,
    /// The SMTP port.
    #[arg(long, env = "ROBOTA_SMTP_PORT", default_value_t = 587)]
    pub smtp_port: u16,
    /// none, starttls or tls.
    #[arg(long, env = "ROBOTA_SMTP_SECURITY", default_value = "starttls")]
    pub smtp_security: String,
    /// The SMTP login.
    #[arg(long, env = "ROBOTA_SMTP_USER")]
    pub smtp_user: Option<String>,
    /// The SMTP password (better given through the environment).
    #[arg(long, env = "ROBOTA_SMTP_PASSWORD", hide_env_values = true)]
    pub smtp_password: Option<String>,
    /// The From address of outgoing mail.
    #[arg(long, env = "ROBOTA_MAIL_FROM", default_value = "robota@localhost")]
    pub mail_from: String,
}

/// `robota process …`
#[derive(Debug, Subcommand)]
pub enum ProcessCommand {
    /// Check process files; prints file:line:col and the reason for each problem.
    Validate {
        /// The files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The folder of installed actions to check `uses` against (default: the standard actions).
        #[arg(long, env = "ROBOTA_PLUGINS")]
        plugins: Option<PathBuf>,
        /// Where compiled components are cached.
        #[arg(long, env = "ROBOTA_CACHE_DIR")]
        cache_dir: Option<PathBuf>,
    },
    /// List the installed processes.
    List {
        /// The database.
        #[arg(long, env = "ROBOTA_DB", default_value = "sqlite://robota.db")]
        db: String,
    },
}

/// `robota token …`
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create an API token and print it (only its hash is stored).
    Create {
        /// The CRM user the token acts as.
        #[arg(long)]
        user: Option<String>,
        /// manager, head_of_sales, accountant or admin.
        #[arg(long)]
        role: String,
        /// A label to recognise the token by.
        #[arg(long, default_value = "cli")]
        label: String,
        /// The database.
        #[arg(long, env = "ROBOTA_DB", default_value = "sqlite://robota.db")]
        db: String,
    },
}

/// `robota user …`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a CRM user and print their id.
    Create {
        /// Their e-mail (unique).
        #[arg(long)]
        email: String,
        /// Their name.
        #[arg(long)]
        name: String,
        /// manager, head_of_sales, accountant or admin.
        #[arg(long)]
        role: String,
        /// The database.
        #[arg(long, env = "ROBOTA_DB", default_value = "sqlite://robota.db")]
        db: String,
    },
}

/// `robota run …`
#[derive(Debug, Subcommand)]
pub enum RunCommand {
    /// List runs, newest first.
    List {
        /// Only this process.
        #[arg(long)]
        process: Option<String>,
        /// Only this status: running, completed, failed, cancelled.
        #[arg(long)]
        status: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// The database.
        #[arg(long, env = "ROBOTA_DB", default_value = "sqlite://robota.db")]
        db: String,
    },
    /// Show a run with every step's attempts, as JSON.
    Show {
        /// The run id.
        id: String,
        /// The database.
        #[arg(long, env = "ROBOTA_DB", default_value = "sqlite://robota.db")]
        db: String,
    },
    /// Run a failed run's failed step again.
    Retry {
        /// The run id.
        id: String,
        /// The database.
        #[arg(long, env = "ROBOTA_DB", default_value = "sqlite://robota.db")]
        db: String,
    },
    /// Cancel a running run.
    Cancel {
        /// The run id.
        id: String,
        /// The database.
        #[arg(long, env = "ROBOTA_DB", default_value = "sqlite://robota.db")]
        db: String,
    },
}

/// `robota plugin …`
#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Run one action and print its JSON output (the integrator's local runner).
    Call(CallArgs),
    /// Print an action's manifest as JSON.
    Inspect {
        /// The component, a .wasm file.
        plugin: PathBuf,
        /// Where compiled components are cached.
        #[arg(long, env = "ROBOTA_CACHE_DIR")]
        cache_dir: Option<PathBuf>,
    },
    /// Make a publisher key pair (ed25519): the secret at --out, the public
    /// key at --out.pub for admins' trusted-publishers.toml.
    Keygen {
        /// Where the secret key goes (never overwritten).
        #[arg(long)]
        out: PathBuf,
    },
    /// Check a component and print the package manifest it would publish.
    Pack(market::PackArgs),
    /// Publish a component to an OCI registry, signed with a publisher key.
    Publish {
        /// The component and its publishing details.
        #[command(flatten)]
        pack: market::PackArgs,
        /// The registry, such as http://127.0.0.1:5000.
        #[arg(long)]
        registry: String,
        /// The publisher's secret key (robota plugin keygen).
        #[arg(long)]
        key: PathBuf,
        /// The namespace the action's repository goes under.
        #[arg(long, default_value = "robota")]
        namespace: String,
    },
    /// Publish the standard actions embedded in this binary (what
    /// scripts/publish-standard-actions runs), so a server can install them
    /// from a registry instead.
    PublishStandard {
        /// The registry.
        #[arg(long)]
        registry: String,
        /// The publisher's secret key.
        #[arg(long)]
        key: PathBuf,
        /// The namespace.
        #[arg(long, default_value = "robota")]
        namespace: String,
        /// The publisher's name.
        #[arg(long, default_value = "robota")]
        publisher: String,
        /// Where compiled components are cached.
        #[arg(long, env = "ROBOTA_CACHE_DIR")]
        cache_dir: Option<PathBuf>,
    },
    /// Find actions in a registry by a word of their id, title or description.
    Search {
        /// The word.
        word: String,
        /// The registry.
        #[arg(long)]
        registry: String,
        /// The namespace.
        #[arg(long, default_value = "robota")]
        namespace: String,
    },
    /// Install an action from a registry (`id` or `id@<semver range>`):
    /// verified, shown, installed only with consent.
    Install(market::InstallArgs),
    /// Move an installed action to the newest version of its major
    /// version; one asking for more than was granted asks again.
    Upgrade {
        /// The action's id.
        id: String,
        /// The plugins folder.
        #[arg(long)]
        plugins: PathBuf,
        /// The namespace.
        #[arg(long, default_value = "robota")]
        namespace: String,
        /// Consent to what the new version asks for beyond the old one.
        #[arg(long)]
        yes: bool,
        /// Where compiled components are cached.
        #[arg(long, env = "ROBOTA_CACHE_DIR")]
        cache_dir: Option<PathBuf>,
    },
    /// The actions installed from registries (plugins.lock).
    List {
        /// The plugins folder.
        #[arg(long)]
        plugins: PathBuf,
    },
    /// Remove an installed action (`id` or `id@major`), refused while an
    /// enabled process uses it.
    Remove {
        /// `id` or `id@major`.
        package: String,
        /// The plugins folder.
        #[arg(long)]
        plugins: PathBuf,
        /// The server's database (to see which processes use the action).
        #[arg(long, env = "ROBOTA_DB")]
        db: String,
    },
    /// Install exactly what the plugins folder's plugins.lock pins (a
    /// second server from the first's lock): byte-identical, or an error.
    Sync {
        /// The plugins folder holding plugins.lock and trusted-publishers.toml.
        #[arg(long)]
        plugins: PathBuf,
        /// The namespace the lock's repositories are under.
        #[arg(long, default_value = "robota")]
        namespace: String,
        /// Where compiled components are cached.
        #[arg(long, env = "ROBOTA_CACHE_DIR")]
        cache_dir: Option<PathBuf>,
    },
}

/// `robota plugin call` flags.
#[derive(Debug, Args)]
pub struct CallArgs {
    /// The component, a .wasm file.
    pub plugin: PathBuf,
    /// The input, a JSON document.
    #[arg(long, default_value = "{}")]
    pub input: String,
    /// A capability to grant: crm.read, crm.write, mail.send, notify.send,
    /// http.fetch=HOST[,HOST:PORT…]. Repeat for several.
    #[arg(long = "grant", value_name = "CAP")]
    pub grants: Vec<String>,
    /// A setting the action reads with config.get. Repeat for several.
    #[arg(long = "config", value_name = "KEY=VALUE")]
    pub config: Vec<String>,
    /// The database the action reads and writes; a scratch in-memory SQLite by default.
    #[arg(long, env = "ROBOTA_DB", default_value = "sqlite::memory:")]
    pub db: String,
    /// Wall-clock deadline, e.g. 5s or 250ms.
    #[arg(long, default_value = "5s")]
    pub deadline: String,
    /// Linear-memory cap, e.g. 64MiB.
    #[arg(long, default_value = "64MiB")]
    pub memory: String,
    /// Input and output size cap, e.g. 1MiB.
    #[arg(long, default_value = "1MiB")]
    pub max_io: String,
    /// Where compiled components are cached.
    #[arg(long, env = "ROBOTA_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Also print the action's log and the CRM changes it committed (to stderr).
    #[arg(long, short)]
    pub verbose: bool,
}

/// The durability a `--synchronous` flag names.
fn durability(flag: &str) -> crate::store::sqlite::Durability {
    if flag == "normal" {
        crate::store::sqlite::Durability::Normal
    } else {
        crate::store::sqlite::Durability::Full
    }
}

/// Runs the parsed command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Plugin(PluginCommand::Call(args)) => plugin::call(args).await,
        Command::Plugin(PluginCommand::Inspect { plugin, cache_dir }) => {
            plugin::inspect(&plugin, cache_dir).await
        }
        Command::Plugin(PluginCommand::Keygen { out }) => market::keygen(&out),
        Command::Plugin(PluginCommand::Pack(args)) => market::pack(&args).await,
        Command::Plugin(PluginCommand::Publish {
            pack,
            registry,
            key,
            namespace,
        }) => market::publish(&pack, &registry, &key, &namespace).await,
        Command::Plugin(PluginCommand::PublishStandard {
            registry,
            key,
            namespace,
            publisher,
            cache_dir,
        }) => market::publish_standard(&registry, &key, &namespace, &publisher, cache_dir).await,
        Command::Plugin(PluginCommand::Search {
            word,
            registry,
            namespace,
        }) => market::search(&word, &registry, &namespace).await,
        Command::Plugin(PluginCommand::Install(args)) => market::install(&args).await,
        Command::Plugin(PluginCommand::Upgrade {
            id,
            plugins,
            namespace,
            yes,
            cache_dir,
        }) => market::upgrade(&id, &plugins, &namespace, yes, cache_dir).await,
        Command::Plugin(PluginCommand::List { plugins }) => market::list(&plugins),
        Command::Plugin(PluginCommand::Remove {
            package,
            plugins,
            db,
        }) => market::remove(&package, &plugins, &db).await,
        Command::Plugin(PluginCommand::Sync {
            plugins,
            namespace,
            cache_dir,
        }) => market::sync(&plugins, &namespace, cache_dir).await,
        Command::Migrate { db } => {
            crate::store::migrate(&db).await?;
            println!("migrated {}", crate::store::postgres::redacted(&db));
            Ok(())
        }
        Command::Serve(args) => {
            serve::serve(serve::ServeOptions {
                db: args.db,
                listen: args.listen,
                plugins: args.plugins,
                processes: args.processes,
                workers: args.workers,
                dev_clock: args.dev_clock,
                cache_dir: args.cache_dir,
                durability: durability(&args.synchronous),
                step_lease: std::time::Duration::from_secs(args.step_lease),
                print_new_admin_token: false,
                smtp: match args.smtp_host {
                    Some(host) => Some(crate::mail::SmtpSettings {
                        host,
                        port: args.smtp_port,
                        security: args.smtp_security.parse().map_err(anyhow::Error::msg)?,
                        username: args.smtp_user,
                        password: args.smtp_password,
                        from: args.mail_from,
                        max_attempts: 8,
                    }),
                    None => None,
                },
            })
            .await
        }
        Command::Demo {
            dir,
            listen,
            cache_dir,
        } => demo::demo(dir, listen, cache_dir).await,
        Command::Process(ProcessCommand::Validate {
            files,
            plugins,
            cache_dir,
        }) => process::validate(&files, plugins, cache_dir).await,
        Command::Process(ProcessCommand::List { db }) => process::list(&db).await,
        Command::Token(TokenCommand::Create {
            user,
            role,
            label,
            db,
        }) => {
            let store = crate::store::open_existing(&db).await?;
            let token =
                crate::api::auth::create_token(store.as_ref(), &role, user.as_deref(), &label)
                    .await?;
            println!("{token}");
            Ok(())
        }
        Command::User(UserCommand::Create {
            email,
            name,
            role,
            db,
        }) => {
            use crate::store::CrmStore as _;
            let store = crate::store::open_existing(&db).await?;
            let same = crate::crm::Filter {
                field: "email".into(),
                op: crate::crm::FilterOp::Eq,
                value: email.clone().into(),
            };
            if let Some(u) = store
                .query(crate::crm::EntityKind::User, &[same], 1)
                .await?
                .first()
            {
                anyhow::bail!(
                    "a user with e-mail {email} exists already ({}): give another e-mail, or make a token for that user",
                    u.get("id")
                        .and_then(serde_json::Value::as_str)
                        .unwrap_or_default()
                );
            }
            let id = crate::crm::new_id();
            let mut fields = serde_json::Map::new();
            fields.insert("email".into(), email.into());
            fields.insert("name".into(), name.into());
            fields.insert("role".into(), role.into());
            store
                .commit(&[crate::crm::changes::Change::Create {
                    kind: crate::crm::EntityKind::User,
                    id: id.clone(),
                    fields,
                }])
                .await?;
            println!("{id}");
            Ok(())
        }
        Command::Run(cmd) => runs::run(cmd).await,
        Command::Bench {
            runs,
            latency_runs,
            rate,
            synchronous,
            workers,
            cache_dir,
            db,
            nodes,
        } => {
            if let Some(r) = rate {
                anyhow::ensure!(
                    r.is_finite() && r > 0.0,
                    "--rate must be a positive number of runs per second, not {r}"
                );
            }
            bench::bench(bench::BenchOptions {
                runs,
                latency_runs,
                rate,
                durability: durability(&synchronous),
                workers,
                cache_dir,
                db,
                nodes,
            })
            .await
        }
    }
}
