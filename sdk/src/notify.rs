//! In-app notifications (`notify.send`).

use crate::__bindings::robota::plugin::notify as host;
use crate::{EntityRef, Error};

/// Notifies a user, optionally about an entity; returns the notification's id.
pub fn send(
    user_id: &str,
    title: &str,
    body: &str,
    about: Option<EntityRef>,
) -> Result<String, Error> {
    Ok(host::send(&host::Notification {
        user_id: user_id.to_owned(),
        title: title.to_owned(),
        body: body.to_owned(),
        about,
    })?)
}
