//! The installed actions over HTTP (admin only): what each is, what it
//! asked for, what the admin granted it (`plugins.toml`) and where it came
//! from (`plugins.lock`); installing from a registry with consent,
//! upgrading within a major, removing, and reloading the folder — each
//! taking effect without a restart. Runs already started keep the
//! components they started with.

use super::AppState;
use super::auth::Caller;
use super::problem::{ApiError, ApiResult, body_as};
use crate::access::Role;
use crate::market::install::{self, Lock, Locked, RemoveError, Upgrade, Verified, Wanted};
use crate::market::keys::TrustStore;
use crate::market::oci::{Registry, Unreachable};
use crate::market::package::in_words;
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::PathBuf;

/// The plugins folder a server manages: installs, upgrades and removals
/// over the API write here, one at a time.
pub struct PluginFolder {
    /// The folder (`--plugins`).
    pub dir: PathBuf,
    /// Held while the folder changes and the engine reloads it.
    changing: tokio::sync::Mutex<()>,
}

impl PluginFolder {
    /// The folder at `dir`.
    pub fn new(dir: PathBuf) -> PluginFolder {
        PluginFolder {
            dir,
            changing: tokio::sync::Mutex::new(()),
        }
    }
}

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/plugins", get(list).post(install_package))
        .route("/api/v1/plugins/reload", post(reload))
        .route("/api/v1/plugins/{id}/upgrade", post(upgrade))
        .route("/api/v1/plugins/{id}", delete(remove))
}

/// What the admin agreed the action may do.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Consent {
    #[serde(default)]
    capabilities: BTreeSet<String>,
    #[serde(default)]
    http_hosts: BTreeSet<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InstallBody {
    package: String,
    registry: String,
    #[serde(default = "default_namespace")]
    namespace: String,
    consent: Option<Consent>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct UpgradeBody {
    #[serde(default = "default_namespace")]
    namespace: String,
    consent: Option<Consent>,
}

fn default_namespace() -> String {
    "robota".to_owned()
}

const INSTALL_SHAPE: &str = r#"{"package": "id" or "id@<semver range>", "registry": "http(s)://host:port", "namespace"?: "robota", "consent"?: {"capabilities": [...], "http_hosts": [...]}}"#;
const UPGRADE_SHAPE: &str =
    r#"{"namespace"?: "robota", "consent"?: {"capabilities": [...], "http_hosts": [...]}}"#;

async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<Value>> {
    caller.require(&[Role::Admin], "see the installed actions and their grants")?;
    let lock = match &state.plugins {
        Some(folder) => Lock::load(&folder.dir).map_err(ApiError::internal)?,
        None => Lock::default(),
    };
    let catalog = state.engine.catalog();
    let items: Vec<Value> = catalog
        .iter()
        .map(|(uses, action)| {
            let m = &action.plugin.manifest;
            let package = lock
                .packages
                .iter()
                .find(|p| p.id == m.id && p.version == m.version);
            json!({
                "uses": uses.to_string(),
                "id": m.id,
                "version": m.version,
                "title": m.title,
                "description": m.description,
                "digest": action.plugin.digest,
                "input_schema": m.input_schema,
                "output_schema": m.output_schema,
                "wants": m.capabilities.iter().map(|c| c.name()).collect::<Vec<_>>(),
                "granted": action.grants.capabilities().map(|c| c.name()).collect::<Vec<_>>(),
                "http_hosts": action.grants.http_hosts(),
                "deadline_ms": u64::try_from(action.limits.deadline.as_millis()).unwrap_or(u64::MAX),
                "memory_bytes": action.limits.memory_bytes,
                "package": package.map(package_json),
            })
        })
        .collect();
    let superseded: Vec<Value> = catalog
        .superseded()
        .map(|a| {
            json!({
                "id": a.plugin.manifest.id,
                "version": a.plugin.manifest.version,
                "digest": a.plugin.digest,
            })
        })
        .collect();
    Ok(Json(json!({ "items": items, "superseded": superseded })))
}

/// A lock entry as the API shows it.
fn package_json(p: &Locked) -> Value {
    json!({
        "version": p.version,
        "registry": p.registry,
        "repository": p.repository,
        "manifest_digest": p.digest,
        "publisher": p.publisher,
        "granted_at_install": p.granted,
        "http_hosts": p.http_hosts,
        "consented_by": p.consented_by,
        "file": p.file,
    })
}

/// The folder, or 409 when the server runs without one.
fn folder(state: &AppState) -> Result<&PluginFolder, ApiError> {
    state.plugins.as_deref().ok_or_else(|| {
        ApiError::conflict(
            "this server has no plugins folder: start it with --plugins DIR to install actions",
        )
    })
}

/// A registry or package failure: 502 when the registry is unreachable,
/// 422 when the package itself is refused (the detail names why).
fn package_error(e: anyhow::Error) -> ApiError {
    if e.downcast_ref::<Unreachable>().is_some() {
        ApiError::new(
            StatusCode::BAD_GATEWAY,
            format!("{e:#}; nothing was installed"),
        )
    } else {
        ApiError::unprocessable(format!("{e:#}; nothing was installed"))
    }
}

/// Who consented, for the lock.
fn consenter(caller: &Caller) -> String {
    match caller.user_id() {
        Some(user) => format!("user {user} (API)"),
        None => format!("token {} (API)", caller.owner.id),
    }
}

/// 409 asking for consent to what is listed (nothing was written).
fn consent_required(verified: &Verified, caps: &[String], hosts: &[String]) -> ApiError {
    let m = &verified.fetched.manifest;
    let asks: Vec<Value> = caps
        .iter()
        .map(|c| json!({ "capability": c, "in_words": in_words(c, &m.http_hosts) }))
        .collect();
    ApiError::conflict(format!(
        "{} {} needs the admin's consent to what it asks for: send the request again with \"consent\" listing them; nothing was installed",
        m.id, m.version
    ))
    .with("asks", json!(asks))
    .with("http_hosts", json!(hosts))
    .with(
        "package",
        json!({
            "id": m.id,
            "version": m.version,
            "title": m.title,
            "publisher": verified.publisher,
            "manifest_digest": verified.fetched.digest,
        }),
    )
}

/// What of `caps` and `hosts` `consent` does not cover.
fn unconsented(
    consent: Option<&Consent>,
    caps: &[String],
    hosts: &[String],
) -> (Vec<String>, Vec<String>) {
    let empty = Consent::default();
    let c = consent.unwrap_or(&empty);
    (
        caps.iter()
            .filter(|x| !c.capabilities.contains(*x))
            .cloned()
            .collect(),
        hosts
            .iter()
            .filter(|x| !c.http_hosts.contains(*x))
            .cloned()
            .collect(),
    )
}

/// Reloads the folder into the engine after a change that is on disk.
async fn reload_after(state: &AppState, folder: &PluginFolder) -> Result<usize, ApiError> {
    state.engine.reload_plugins(&folder.dir).await.map_err(|e| {
        ApiError::conflict(format!(
            "the folder changed, but loading it failed, so the actions installed before stay in use: {e:#}"
        ))
    })
}

async fn install_package(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Json<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    caller.require(&[Role::Admin], "install actions")?;
    let body: InstallBody = body_as(body.0, INSTALL_SHAPE)?;
    let folder = folder(&state)?;
    let wanted = Wanted::parse(&body.package)
        .map_err(|e| ApiError::unprocessable(format!("package: {e:#}")))?;
    let registry = Registry::new(&body.registry, &body.namespace)
        .map_err(|e| ApiError::unprocessable(format!("{e:#}")))?;
    let _changing = folder.changing.lock().await;
    let trust = TrustStore::load(&folder.dir).map_err(|e| ApiError::conflict(format!("{e:#}")))?;
    let verified = install::resolve(state.engine.host(), &registry, &trust, &wanted)
        .await
        .map_err(package_error)?;
    let m = &verified.fetched.manifest;
    let (caps, hosts) = unconsented(body.consent.as_ref(), &m.capabilities, &m.http_hosts);
    if !caps.is_empty() || !hosts.is_empty() {
        return Err(consent_required(&verified, &caps, &hosts));
    }
    let entry = install::write(&folder.dir, &registry, &verified, &consenter(&caller))
        .map_err(ApiError::internal)?;
    reload_after(&state, folder).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "id": entry.id,
            "uses": format!("{}@{}", entry.id, major(&entry.version)),
            "version": entry.version,
            "package": package_json(&entry),
            "needs_hosts": m.capabilities.iter().any(|c| c == "http.fetch"),
        })),
    ))
}

async fn upgrade(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Option<Json<Value>>,
) -> ApiResult<Json<Value>> {
    caller.require(&[Role::Admin], "upgrade actions")?;
    let body: UpgradeBody = match body {
        Some(Json(v)) => body_as(v, UPGRADE_SHAPE)?,
        None => UpgradeBody {
            namespace: default_namespace(),
            consent: None,
        },
    };
    let folder = folder(&state)?;
    let _changing = folder.changing.lock().await;
    let trust = TrustStore::load(&folder.dir).map_err(|e| ApiError::conflict(format!("{e:#}")))?;
    let lock = Lock::load(&folder.dir).map_err(ApiError::internal)?;
    if !lock.packages.iter().any(|p| p.id == id) {
        return Err(ApiError::not_found(format!(
            "`{id}` is not installed from a registry here"
        )));
    }
    let (registry, plan) = install::plan_upgrade(
        state.engine.host(),
        &folder.dir,
        &body.namespace,
        &trust,
        &id,
    )
    .await
    .map_err(package_error)?;
    match plan {
        Upgrade::Current {
            version,
            newer_major,
        } => Ok(Json(json!({
            "upgraded": false,
            "id": id,
            "version": version,
            "newer_major": newer_major.map(|v| v.to_string()),
        }))),
        Upgrade::Ready {
            verified,
            from,
            new_capabilities,
            new_hosts,
        } => {
            let (caps, hosts) = unconsented(body.consent.as_ref(), &new_capabilities, &new_hosts);
            if !caps.is_empty() || !hosts.is_empty() {
                return Err(consent_required(&verified, &caps, &hosts).with(
                    "installed",
                    json!({ "version": from.version, "granted": from.granted }),
                ));
            }
            let consented_by = if new_capabilities.is_empty() && new_hosts.is_empty() {
                format!("as granted for {} {}", from.id, from.version)
            } else {
                consenter(&caller)
            };
            let entry = install::apply_upgrade(
                &folder.dir,
                &registry,
                &verified,
                &from,
                &new_capabilities,
                &consented_by,
            )
            .map_err(ApiError::internal)?;
            reload_after(&state, folder).await?;
            Ok(Json(json!({
                "upgraded": true,
                "id": id,
                "from": from.version,
                "version": entry.version,
                "package": package_json(&entry),
            })))
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RemoveQuery {
    major: Option<u64>,
}

async fn remove(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Query(q): Query<RemoveQuery>,
) -> ApiResult<Json<Value>> {
    caller.require(&[Role::Admin], "remove actions")?;
    let folder = folder(&state)?;
    let _changing = folder.changing.lock().await;
    let processes = install::enabled_processes(state.store.as_ref())
        .await
        .map_err(ApiError::internal)?;
    let gone = install::remove(&folder.dir, &id, q.major, &processes).map_err(|e| match e {
        RemoveError::NotInstalled(_) => ApiError::not_found(e.to_string()),
        RemoveError::InUse { ref processes, .. } => {
            ApiError::conflict(e.to_string()).with("processes", json!(processes))
        }
        RemoveError::Folder(e) => ApiError::internal(format!("{e:#}")),
    })?;
    reload_after(&state, folder).await?;
    Ok(Json(json!({
        "removed": gone.iter().map(package_json).collect::<Vec<_>>(),
    })))
}

async fn reload(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<Value>> {
    caller.require(&[Role::Admin], "reload the installed actions")?;
    let folder = folder(&state)?;
    let _changing = folder.changing.lock().await;
    let pruned = state
        .engine
        .reload_plugins(&folder.dir)
        .await
        .map_err(|e| {
            ApiError::unprocessable(format!(
                "the plugins folder does not load, so the actions loaded before stay in use: {e:#}"
            ))
        })?;
    let catalog = state.engine.catalog();
    Ok(Json(json!({
        "loaded": catalog.iter().map(|(r, a)| json!({ "uses": r.to_string(), "version": a.plugin.manifest.version, "digest": a.plugin.digest })).collect::<Vec<_>>(),
        "superseded_removed": pruned,
    })))
}

/// The major version of `version` (`1.2.3` → 1).
fn major(version: &str) -> String {
    version.split('.').next().unwrap_or(version).to_owned()
}
