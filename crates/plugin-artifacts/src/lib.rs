//! Paths of the guest components built by this crate's build script, for tests
//! and benchmarks (`robota_plugin_artifacts::HELLO_RUST` and so on), and the
//! standard actions' bytes, embedded in the `robota` binary ([`STANDARD`]).

include!(concat!(env!("OUT_DIR"), "/artifacts.rs"));
