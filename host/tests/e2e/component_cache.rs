//! The precompiled-component cache: a second load does not compile again,
//! and files that are not components are refused with a clear error.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use robota::plugins::{HostSettings, PluginHost};
use robota_plugin_artifacts::HELLO_RUST;

fn host_with_cache(dir: &std::path::Path) -> PluginHost {
    PluginHost::new(HostSettings {
        cache_dir: Some(dir.to_owned()),
        max_concurrent_calls: 2,
        ..HostSettings::default()
    })
    .unwrap()
}

#[tokio::test]
async fn a_second_host_loads_the_component_from_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let first = host_with_cache(dir.path())
        .load_file(HELLO_RUST.as_ref())
        .await
        .unwrap();
    assert!(!first.from_cache);
    let cached_files = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(cached_files, 1);
    let second = host_with_cache(dir.path())
        .load_file(HELLO_RUST.as_ref())
        .await
        .unwrap();
    assert!(second.from_cache);
    assert_eq!(first.digest, second.digest);
    assert_eq!(second.manifest.id, "hello-rust");
}

#[tokio::test]
async fn a_corrupt_cache_entry_is_recompiled() {
    let dir = tempfile::tempdir().unwrap();
    host_with_cache(dir.path())
        .load_file(HELLO_RUST.as_ref())
        .await
        .unwrap();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        std::fs::write(entry.unwrap().path(), b"garbage").unwrap();
    }
    let again = host_with_cache(dir.path())
        .load_file(HELLO_RUST.as_ref())
        .await
        .unwrap();
    assert!(!again.from_cache);
    assert_eq!(again.manifest.id, "hello-rust");
}

#[tokio::test]
async fn a_file_that_is_not_a_component_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let host = host_with_cache(dir.path());
    let core_module = b"\0asm\x01\0\0\0";
    let err = host.load(core_module).await.err().unwrap();
    assert!(
        format!("{err:#}").contains("not a WebAssembly component"),
        "{err:#}"
    );
    let err = host.load(b"hello").await.err().unwrap();
    assert!(
        format!("{err:#}").contains("not a WebAssembly component"),
        "{err:#}"
    );
}
