//! Outgoing e-mail through the outbox (`mail.send`).

use crate::__bindings::robota::plugin::mail as host;
use crate::Error;

/// A message being built; queue it with [`Message::send`].
#[derive(Debug, Clone, Default)]
pub struct Message {
    to: Vec<String>,
    cc: Vec<String>,
    subject: String,
    text: String,
    html: Option<String>,
    attachments: Vec<host::Attachment>,
}

impl Message {
    /// A message to one recipient.
    pub fn to(address: &str) -> Self {
        Message {
            to: vec![address.to_owned()],
            ..Message::default()
        }
    }
    /// Adds a recipient.
    pub fn also_to(mut self, address: &str) -> Self {
        self.to.push(address.to_owned());
        self
    }
    /// Adds a carbon-copy recipient.
    pub fn cc(mut self, address: &str) -> Self {
        self.cc.push(address.to_owned());
        self
    }
    /// Sets the subject.
    pub fn subject(mut self, subject: &str) -> Self {
        subject.clone_into(&mut self.subject);
        self
    }
    /// Sets the plain-text body.
    pub fn text(mut self, body: &str) -> Self {
        body.clone_into(&mut self.text);
        self
    }
    /// Sets the HTML body.
    pub fn html(mut self, body: &str) -> Self {
        self.html = Some(body.to_owned());
        self
    }
    /// Attaches a file.
    pub fn attach(mut self, filename: &str, content_type: &str, content: Vec<u8>) -> Self {
        self.attachments.push(host::Attachment {
            filename: filename.to_owned(),
            content_type: content_type.to_owned(),
            content,
        });
        self
    }
    /// Queues the message with the step's writes; returns its Message-ID.
    pub fn send(self) -> Result<String, Error> {
        Ok(host::send(&host::Message {
            to: self.to,
            cc: self.cc,
            subject: self.subject,
            text_body: self.text,
            html_body: self.html,
            attachments: self.attachments,
        })?)
    }
}
