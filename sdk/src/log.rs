//! Lines in the run's log.

use crate::__bindings::robota::plugin::log as host;

/// Logs at debug level.
pub fn debug(message: &str) {
    host::log(host::Level::Debug, message);
}
/// Logs at info level.
pub fn info(message: &str) {
    host::log(host::Level::Info, message);
}
/// Logs at warn level.
pub fn warn(message: &str) {
    host::log(host::Level::Warn, message);
}
/// Logs at error level.
pub fn error(message: &str) {
    host::log(host::Level::Error, message);
}
