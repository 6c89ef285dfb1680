//! The manifest an action describes itself with, and its builder.

use crate::wit;

/// A capability an action asks for; the admin grants it at install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Capability {
    /// `crm.read`: read entities.
    CrmRead,
    /// `crm.write`: create and change entities.
    CrmWrite,
    /// `mail.send`: queue e-mail.
    MailSend,
    /// `http.fetch`: requests to these hosts ("api.example.com", "127.0.0.1:8080").
    HttpFetch(Vec<String>),
    /// `notify.send`: in-app notifications.
    NotifySend,
}

/// What an action says about itself. Build it with [`Manifest::new`].
#[derive(Debug, Clone)]
pub struct Manifest {
    id: String,
    version: String,
    title: String,
    description: String,
    input_schema: serde_json::Value,
    output_schema: serde_json::Value,
    capabilities: Vec<Capability>,
}

impl Manifest {
    /// A manifest with an id ("create-invoice"), a semantic version and a title.
    /// The schemas default to "any object".
    pub fn new(id: &str, version: &str, title: &str) -> Self {
        Manifest {
            id: id.to_owned(),
            version: version.to_owned(),
            title: title.to_owned(),
            description: String::new(),
            input_schema: serde_json::json!({ "type": "object" }),
            output_schema: serde_json::json!({ "type": "object" }),
            capabilities: Vec::new(),
        }
    }

    /// What the action does, for admins composing processes.
    pub fn description(mut self, text: &str) -> Self {
        text.clone_into(&mut self.description);
        self
    }

    /// The JSON Schema of the input; the host checks input against it.
    pub fn input_schema(mut self, schema: serde_json::Value) -> Self {
        self.input_schema = schema;
        self
    }

    /// The JSON Schema of the output.
    pub fn output_schema(mut self, schema: serde_json::Value) -> Self {
        self.output_schema = schema;
        self
    }

    /// Asks for a capability.
    pub fn capability(mut self, capability: Capability) -> Self {
        self.capabilities.push(capability);
        self
    }

    pub(crate) fn into_wit(self) -> wit::Manifest {
        wit::Manifest {
            id: self.id,
            version: self.version,
            title: self.title,
            description: self.description,
            input_schema: self.input_schema.to_string(),
            output_schema: self.output_schema.to_string(),
            capabilities: self
                .capabilities
                .into_iter()
                .map(|c| match c {
                    Capability::CrmRead => wit::Capability::CrmRead,
                    Capability::CrmWrite => wit::Capability::CrmWrite,
                    Capability::MailSend => wit::Capability::MailSend,
                    Capability::HttpFetch(hosts) => wit::Capability::HttpFetch(hosts),
                    Capability::NotifySend => wit::Capability::NotifySend,
                })
                .collect(),
        }
    }
}
