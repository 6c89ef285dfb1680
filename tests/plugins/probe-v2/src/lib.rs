//! The probe action at version 2.0.0 (see tests/plugins/probe).

const VERSION: &str = "2.0.0";
const WRITES: bool = true;

include!("../../probe/src/action.rs");
