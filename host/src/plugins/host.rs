//! The host side of the WIT interfaces, each call checked against the grants.

mod crm;
mod http;

use super::bindings::WitError;
use super::bindings::robota::plugin::{config, log, mail, notify, types};
use super::grants::Capability;
use super::state::CallState;
use crate::crm::changes::{Change, MailAttachment, Notification, OutgoingMail};
use crate::crm::new_id;

impl types::Host for CallState {}

impl mail::Host for CallState {
    async fn send(&mut self, msg: mail::Message) -> Result<String, WitError> {
        self.require(Capability::MailSend)?;
        if msg.to.is_empty() {
            return Err(WitError::InvalidInput(
                "mail: at least one recipient is needed".into(),
            ));
        }
        for address in msg.to.iter().chain(&msg.cc) {
            let ok = address
                .split_once('@')
                .is_some_and(|(u, h)| !u.is_empty() && h.contains('.'))
                && !address.contains(char::is_whitespace);
            if !ok {
                return Err(WitError::InvalidInput(format!(
                    "mail: `{address}` is not an e-mail address"
                )));
            }
        }
        if msg.subject.trim().is_empty() {
            return Err(WitError::InvalidInput("mail: the subject is empty".into()));
        }
        // The Message-ID is derived from the step's idempotency key, so a
        // retried step queues the same message and receivers can deduplicate.
        let sent = msg.subject.len()
            + msg.text_body.len()
            + msg.html_body.as_ref().map_or(0, String::len)
            + msg.to.iter().chain(&msg.cc).map(String::len).sum::<usize>()
            + msg
                .attachments
                .iter()
                .map(|a| a.filename.len() + a.content_type.len() + a.content.len())
                .sum::<usize>();
        self.mails_sent += 1;
        let message_id = format!("<{}.{}@robota>", self.idempotency_key, self.mails_sent);
        let mail = OutgoingMail {
            id: new_id(),
            message_id: message_id.clone(),
            to: msg.to,
            cc: msg.cc,
            subject: msg.subject,
            text_body: msg.text_body,
            html_body: msg.html_body,
            attachments: msg
                .attachments
                .into_iter()
                .map(|a| MailAttachment {
                    filename: a.filename,
                    content_type: a.content_type,
                    content: a.content,
                })
                .collect(),
        };
        self.writable()?.push(Change::Mail(mail));
        self.charge(sent, Ok(message_id))
    }
}

impl notify::Host for CallState {
    async fn send(&mut self, n: notify::Notification) -> Result<String, WitError> {
        self.require(Capability::NotifySend)?;
        if n.user_id.trim().is_empty() || n.title.trim().is_empty() {
            return Err(WitError::InvalidInput(
                "notify: user-id and title are required".into(),
            ));
        }
        let user = crate::crm::EntityRef {
            kind: crate::crm::EntityKind::User,
            id: n.user_id.clone(),
        };
        self.session()?.get(&user).await.map_err(|_| {
            WitError::InvalidInput(format!("notify: no user with id `{}`", n.user_id))
        })?;
        let id = new_id();
        let sent = n.title.len() + n.body.len() + n.user_id.len();
        self.writable()?.push(Change::Notify(Notification {
            id: id.clone(),
            user_id: n.user_id,
            title: n.title,
            body: n.body,
            about: n.about.map(Into::into),
        }));
        self.charge(sent, Ok(id))
    }
}

impl config::Host for CallState {
    async fn get(&mut self, key: String) -> Result<Option<String>, WitError> {
        Ok(self.config.get(&key).cloned())
    }
}

impl log::Host for CallState {
    async fn log(&mut self, level: log::Level, message: String) {
        let level = match level {
            log::Level::Trace => "trace",
            log::Level::Debug => "debug",
            log::Level::Info => "info",
            log::Level::Warn => "warn",
            log::Level::Error => "error",
        };
        CallState::log(self, level, message);
    }
}
