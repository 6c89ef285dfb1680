//! `crm`: reads need `crm.read`, writes `crm.write`; writes go to the step's
//! buffer (see `session`).

use crate::crm::changes::StoredFile;
use crate::crm::{Filter, FilterOp};
use crate::plugins::bindings::robota::plugin::crm;
use crate::plugins::bindings::{WitEntityKind, WitEntityRef, WitError};
use crate::plugins::grants::Capability;
use crate::plugins::state::CallState;
use serde_json::{Map, Value};

fn object(json: &str, what: &str) -> Result<Map<String, Value>, WitError> {
    match serde_json::from_str(json) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(WitError::InvalidInput(format!(
            "{what} must be a JSON object"
        ))),
        Err(e) => Err(WitError::InvalidInput(format!(
            "{what} is not valid JSON: {e}"
        ))),
    }
}

impl crm::Host for CallState {
    async fn get(&mut self, target: WitEntityRef) -> Result<String, WitError> {
        self.require(Capability::CrmRead)?;
        let record = self.session()?.get(&target.into()).await?;
        Ok(Value::Object(record).to_string())
    }

    async fn query(&mut self, q: crm::EntityQuery) -> Result<Vec<String>, WitError> {
        self.require(Capability::CrmRead)?;
        let mut filters = Vec::with_capacity(q.filters.len());
        for f in q.filters {
            let value: Value = serde_json::from_str(&f.value).map_err(|e| {
                WitError::InvalidInput(format!("filter on `{}`: value is not JSON: {e}", f.field))
            })?;
            let op = match f.op {
                crm::FilterOp::Eq => FilterOp::Eq,
                crm::FilterOp::Ne => FilterOp::Ne,
                crm::FilterOp::Lt => FilterOp::Lt,
                crm::FilterOp::Le => FilterOp::Le,
                crm::FilterOp::Gt => FilterOp::Gt,
                crm::FilterOp::Ge => FilterOp::Ge,
                crm::FilterOp::Contains => FilterOp::Contains,
                crm::FilterOp::IsNull => FilterOp::IsNull,
            };
            filters.push(Filter {
                field: f.field,
                op,
                value,
            });
        }
        let rows = self
            .session()?
            .query(q.kind.into(), &filters, q.limit)
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| Value::Object(r).to_string())
            .collect())
    }

    async fn create(
        &mut self,
        kind: WitEntityKind,
        fields: String,
    ) -> Result<WitEntityRef, WitError> {
        self.require(Capability::CrmWrite)?;
        let sent = fields.len();
        let fields = object(&fields, "fields")?;
        let created = self.writable()?.create(kind.into(), fields).await;
        Ok(self.charge(sent, created)?.into())
    }

    async fn update(&mut self, target: WitEntityRef, fields: String) -> Result<(), WitError> {
        self.require(Capability::CrmWrite)?;
        let sent = fields.len();
        let fields = object(&fields, "fields")?;
        let updated = self.writable()?.update(&target.into(), fields).await;
        self.charge(sent, updated)
    }

    async fn link(&mut self, from: WitEntityRef, to: WitEntityRef) -> Result<(), WitError> {
        self.require(Capability::CrmWrite)?;
        let sent = from.id.len() + to.id.len();
        let linked = self.writable()?.link(&from.into(), &to.into()).await;
        self.charge(sent, linked)
    }

    async fn add_note(&mut self, target: WitEntityRef, text: String) -> Result<(), WitError> {
        self.require(Capability::CrmWrite)?;
        let sent = text.len();
        let noted = self.writable()?.note(&target.into(), &text).await;
        self.charge(sent, noted)
    }

    async fn attach_file(&mut self, target: WitEntityRef, file: crm::File) -> Result<(), WitError> {
        self.require(Capability::CrmWrite)?;
        let file = StoredFile {
            name: file.name,
            content_type: file.content_type,
            content: file.content,
        };
        let sent = file.name.len() + file.content_type.len() + file.content.len();
        let attached = self.writable()?.attach_file(&target.into(), file).await;
        self.charge(sent, attached)
    }

    async fn get_file(
        &mut self,
        target: WitEntityRef,
        name: String,
    ) -> Result<crm::File, WitError> {
        self.require(Capability::CrmRead)?;
        let f = self.session()?.file(&target.into(), &name).await?;
        Ok(crm::File {
            name: f.name,
            content_type: f.content_type,
            content: f.content,
        })
    }
}
