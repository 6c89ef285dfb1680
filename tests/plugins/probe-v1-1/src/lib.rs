//! The probe action at version 1.1.0 (see tests/plugins/probe).

const VERSION: &str = "1.1.0";
const WRITES: bool = true;

include!("../../probe/src/action.rs");
