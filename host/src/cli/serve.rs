//! `robota serve`: the engine's workers and the HTTP API over one database.

use crate::api::{self, AppState};
use crate::clock::{Clock, ServerClock};
use crate::engine::Engine;
use crate::engine::catalog::Catalog;
use crate::engine::workers::{self, WorkerSettings};
use crate::plugins::{HostSettings, PluginHost};
use crate::store::Database;
use crate::store::prelude::*;
use crate::store::sqlite::Durability;
use anyhow::Context as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// What `serve` (and `demo`) start with.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The database URL.
    pub db: String,
    /// The address to listen on (port 0: any free port).
    pub listen: String,
    /// The installed actions' folder.
    pub plugins: Option<PathBuf>,
    /// The process files' folder.
    pub processes: Option<PathBuf>,
    /// Steps run at once.
    pub workers: Option<usize>,
    /// Allow `POST /api/v1/dev/clock`.
    pub dev_clock: bool,
    /// The compiled-component cache.
    pub cache_dir: Option<PathBuf>,
    /// SQLite synchronous mode.
    pub durability: Durability,
    /// On a shared database: how long a dead node's steps wait.
    pub step_lease: Duration,
    /// A token to print at start (the demo's); otherwise one is made only
    /// on the first start.
    pub print_new_admin_token: bool,
    /// Where the outbox is delivered (None: mail waits in the outbox).
    pub smtp: Option<crate::mail::SmtpSettings>,
}

/// Opens everything, serves until SIGTERM or Ctrl-C, then lets in-flight
/// steps finish and commit.
pub async fn serve(opts: ServeOptions) -> anyhow::Result<()> {
    let store = Arc::new(Database::open(&opts.db, opts.durability).await?);
    // On the embedded database this is the only node: steps still marked
    // running died with the last server. On a shared one, other nodes may
    // hold them; a dead node's steps come back when their lease runs out.
    if !store.is_shared() {
        let orphans = store.release_running_steps().await?;
        if orphans > 0 {
            tracing::warn!(
                "{orphans} step(s) were running when the last server stopped; running them again"
            );
        }
    }
    // The one clock of the server: the engine, the store's timestamps and
    // the actions' wall clock all read it (and `--dev-clock` moves it).
    let clock: Arc<dyn Clock> = Arc::new(ServerClock);
    let defaults = HostSettings::default();
    let host = Arc::new(PluginHost::new(HostSettings {
        cache_dir: opts.cache_dir.clone().or(defaults.cache_dir.clone()),
        clock: clock.clone(),
        ..defaults
    })?);
    let catalog = match &opts.plugins {
        Some(dir) => Catalog::load_dir(&host, dir).await?,
        None => Catalog::new(),
    };
    let engine = Arc::new(
        Engine::new(store.clone(), host, catalog, clock.clone())
            .await?
            .with_step_lease(opts.step_lease),
    );
    if let Some(dir) = &opts.processes {
        engine.install_dir(dir).await?;
    }
    let token = if opts.print_new_admin_token || store.count_tokens().await? == 0 {
        Some(api::auth::create_token(store.as_ref(), "admin", None, "admin (first start)").await?)
    } else {
        None
    };
    let listener = tokio::net::TcpListener::bind(&opts.listen)
        .await
        .with_context(|| format!("cannot listen on {}", opts.listen))?;
    let addr = listener.local_addr()?;
    {
        let mut out = std::io::stdout().lock();
        if let Some(t) = &token {
            writeln!(out, "admin token: {t}")?;
            writeln!(out, "(shown once; keep it: only its hash is stored)")?;
        }
        writeln!(
            out,
            "web console: http://{addr}/console/ (sign in with a token)"
        )?;
        // Ready to paste into another shell: the README's walks use these.
        writeln!(out, "in another shell:")?;
        writeln!(out, "  export URL=http://{addr}")?;
        if let Some(t) = &token {
            writeln!(out, "  export TOKEN={t}")?;
        }
        writeln!(out, "  export H=\"Authorization: Bearer $TOKEN\"")?;
        // Last, so a script can read up to this line and know it is ready.
        writeln!(out, "robota listening on http://{addr}")?;
        out.flush()?;
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut settings = WorkerSettings::default();
    if let Some(n) = opts.workers {
        settings.workers = n.max(1);
    }
    let mut loops = workers::spawn(engine.clone(), settings, stop_rx.clone());
    match &opts.smtp {
        Some(smtp) => {
            let dispatcher = crate::mail::Dispatcher::new(store.clone(), smtp, clock.clone())?;
            loops.spawn(crate::mail::run(
                dispatcher,
                Duration::from_millis(250),
                stop_rx,
            ));
        }
        None => {
            tracing::info!("no SMTP server configured (--smtp-host): e-mail stays in the outbox")
        }
    }
    let app = api::router(AppState {
        store,
        engine: engine.clone(),
        dev_clock: opts.dev_clock.then(crate::clock::server_clock),
        plugins: opts
            .plugins
            .clone()
            .map(|dir| Arc::new(api::plugins::PluginFolder::new(dir))),
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("serving HTTP")?;
    // Stop claiming; the steps in hand finish and commit (or their lease
    // runs out and another start runs them again).
    let _ = stop_tx.send(true);
    engine.poke();
    while loops.join_next().await.is_some() {}
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
