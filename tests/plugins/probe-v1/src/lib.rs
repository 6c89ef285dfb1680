//! The probe action at version 1.0.0 (see tests/plugins/probe).

const VERSION: &str = "1.0.0";
const WRITES: bool = false;

include!("../../probe/src/action.rs");
