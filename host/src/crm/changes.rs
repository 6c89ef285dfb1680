//! A change set: everything one step (or one API call) wants to write,
//! applied by the store in one transaction.

use super::{EntityKind, EntityRef};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One change to the CRM.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// Create an entity with this host-made id.
    Create {
        /// What kind.
        kind: EntityKind,
        /// The id, made when the change was buffered.
        id: String,
        /// Its fields as given.
        fields: Map<String, Value>,
    },
    /// Change some fields of an entity.
    Update {
        /// Which entity.
        target: EntityRef,
        /// The fields to change.
        fields: Map<String, Value>,
    },
    /// Delete an entity; refused while other entities refer to it.
    Delete {
        /// Which entity.
        target: EntityRef,
    },
    /// Link two entities (a timeline entry on each).
    Link {
        /// One end.
        from: EntityRef,
        /// The other end.
        to: EntityRef,
    },
    /// A note on an entity's timeline.
    Note {
        /// Which entity.
        target: EntityRef,
        /// The text.
        text: String,
    },
    /// An e-mail into the outbox.
    Mail(OutgoingMail),
    /// An in-app notification.
    Notify(Notification),
    /// An optimistic check: at this point of the change set, the entity's
    /// field must hold this value, or the whole set is refused as a conflict
    /// (and the step runs again). A step that read something to compute a
    /// write (such as the next invoice number) guards its write with this.
    Expect {
        /// Which entity.
        target: EntityRef,
        /// The field.
        field: String,
        /// The value it must hold.
        value: Value,
    },
    /// Store a file with an entity, replacing one of the same name.
    AttachFile {
        /// Which entity.
        target: EntityRef,
        /// The file.
        file: StoredFile,
    },
    /// The person who makes the rest of the change set (an API caller):
    /// their user id goes on each timeline and history entry it writes.
    /// Actions never send it; their changes are the process's.
    By {
        /// The user.
        user_id: String,
    },
}

/// A file stored with an entity, such as an invoice's PDF.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredFile {
    /// Its name, unique per entity, such as "invoice.pdf".
    pub name: String,
    /// Its MIME type.
    pub content_type: String,
    /// The bytes.
    pub content: Vec<u8>,
}

/// The largest file an entity may store (an invoice PDF is tens of KiB).
pub const MAX_FILE_BYTES: usize = 10 * 1024 * 1024;

impl StoredFile {
    /// Checks the name and size; the error names what is wrong.
    pub fn check(&self) -> Result<(), String> {
        let name = self.name.trim();
        if name.is_empty() {
            return Err("a file needs a name".into());
        }
        if name.len() > 200 || name.contains(['/', '\\']) || name.chars().any(char::is_control) {
            return Err(format!(
                "file name `{}` must be at most 200 bytes without slashes or control characters",
                self.name
            ));
        }
        if !self.content_type.contains('/') {
            return Err(format!(
                "file `{}`: content type `{}` is not a MIME type",
                self.name, self.content_type
            ));
        }
        if self.content.len() > MAX_FILE_BYTES {
            return Err(format!(
                "file `{}` has {} bytes; at most {MAX_FILE_BYTES} are allowed",
                self.name,
                self.content.len()
            ));
        }
        Ok(())
    }
}

/// An e-mail queued for the dispatcher.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutgoingMail {
    /// The outbox row's id.
    pub id: String,
    /// The stable Message-ID header, the same on every delivery attempt.
    pub message_id: String,
    /// Recipients.
    pub to: Vec<String>,
    /// Carbon copies.
    pub cc: Vec<String>,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub text_body: String,
    /// HTML body.
    pub html_body: Option<String>,
    /// Attached files.
    pub attachments: Vec<MailAttachment>,
}

/// A file attached to an e-mail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MailAttachment {
    /// The file name.
    pub filename: String,
    /// Its MIME type.
    pub content_type: String,
    /// The bytes.
    pub content: Vec<u8>,
}

/// An in-app notification to a user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// The notification's id.
    pub id: String,
    /// Who gets it.
    pub user_id: String,
    /// Short title.
    pub title: String,
    /// Text.
    pub body: String,
    /// The entity it is about.
    pub about: Option<EntityRef>,
}

/// What a committed change set produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CommitReport {
    /// Entities created, in order.
    pub created: Vec<EntityRef>,
    /// Entities updated, in order.
    pub updated: Vec<EntityRef>,
    /// Entities deleted, in order.
    pub deleted: Vec<EntityRef>,
    /// Outbox rows queued.
    pub mails: usize,
    /// Notifications sent.
    pub notifications: usize,
}
