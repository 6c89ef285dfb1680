//! Paths of the guest components built by this crate's build script, for tests
//! and benchmarks: `robota_plugin_artifacts::HELLO_RUST` and so on.

include!(concat!(env!("OUT_DIR"), "/artifacts.rs"));
