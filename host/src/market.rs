//! The marketplace: actions published as signed OCI artifacts, installed
//! with the admin's consent and pinned by digest, on the conventions the
//! Wasm ecosystem uses (Spin, wasmCloud and wasm-pkg-tools ship components
//! as OCI artifacts), so any OCI registry serves them.
//!
//! - [`package`]: what a package is — the component as an
//!   `application/wasm` layer, a `application/vnd.wasm.config.v0+json`
//!   config, and robota's manifest (from the component's own `describe`)
//!   as an annotation;
//! - [`keys`]: publisher keys (ed25519) and the admin's trust store;
//! - [`oci`]: the registry, through `oci-client` (push, pull, tags, the
//!   signature next to the manifest as cosign keeps it: tag
//!   `sha256-<hex>.sig`);
//! - [`install`]: resolving a version range, verifying, consent, and the
//!   `plugins.lock` that pins what was installed.

pub mod install;
pub mod keys;
pub mod oci;
pub mod package;
