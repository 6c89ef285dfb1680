//! The action's own settings and secrets.

use crate::__bindings::robota::plugin::config as host;
use crate::Error;

/// The setting's value, or `None` when it is not set.
pub fn get(key: &str) -> Result<Option<String>, Error> {
    Ok(host::get(key)?)
}

/// The setting's value, or `Error::InvalidInput` naming the missing key.
pub fn require(key: &str) -> Result<String, Error> {
    get(key)?.ok_or_else(|| Error::InvalidInput(format!("config key `{key}` is not set")))
}
