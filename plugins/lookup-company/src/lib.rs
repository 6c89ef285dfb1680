//! `lookup-company`: fills a company's requisites from a DaData-compatible
//! registry by its INN — names with the legal form, KPP, OGRN, legal
//! address, director, OKVED, registration date, and the bank by its BIK —
//! and renames the company to its official short name. The INN's checksum
//! is checked before any request; a liquidated, liquidating or bankrupt
//! company fills nothing; what changed goes on the company's timeline.

mod registry;

use registry::{Party, Registry, moscow_date};
use robota_requisites as req;
use robota_sdk::{Action, Capability, Context, EntityKind, EntityRef, Error, Manifest, crm};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// What the action takes.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    /// The company to fill; without one, the INN is looked up for a
    /// company not in the CRM (see `create`).
    #[serde(default)]
    company_id: Option<String>,
    /// The INN to look up; the company's own when not given.
    #[serde(default)]
    inn: Option<String>,
    /// Without `company_id`: create the company from what the registry
    /// says (else only answer it, writing nothing).
    #[serde(default)]
    create: bool,
}

/// What the action returns.
#[derive(Serialize)]
struct Output {
    /// The INN looked up.
    inn: String,
    /// The registry's status of the company (ACTIVE, …).
    status: String,
    /// The company's name now.
    short_name: String,
    /// Each field changed: [old, new].
    changed: Map<String, Value>,
    /// What happened with the bank: filled, unchanged, not found, no BIK.
    bank: String,
    /// The company filled or created (none when only looked up).
    company_id: Option<String>,
    /// What the registry says, field by field (what a new company gets).
    fields: Map<String, Value>,
}

/// The statuses that fill nothing.
const CLOSED: &[(&str, &str)] = &[
    ("LIQUIDATED", "liquidated"),
    ("LIQUIDATING", "being liquidated"),
    ("BANKRUPT", "bankrupt"),
];

struct LookupCompany;

impl Action for LookupCompany {
    type Input = Input;
    type Output = Output;

    fn manifest() -> Manifest {
        Manifest::new(
            "lookup-company",
            env!("CARGO_PKG_VERSION"),
            "Fill a company by INN",
        )
        .description(
            "Checks the INN, asks a DaData-compatible registry for the company and its bank, \
                 fills the requisites and renames the company to its official short name",
        )
        .input_schema(json!({
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "company_id": { "type": "string" },
                "inn": { "type": "string" },
                "create": { "type": "boolean" }
            }
        }))
        .output_schema(json!({
            "type": "object",
            "properties": {
                "inn": { "type": "string" },
                "status": { "type": "string" },
                "short_name": { "type": "string" },
                "changed": { "type": "object" },
                "bank": { "type": "string" },
                "company_id": { "type": ["string", "null"] },
                "fields": { "type": "object" }
            }
        }))
        .capability(Capability::CrmRead)
        .capability(Capability::CrmWrite)
        // The registry's address is the admin's to set (DaData, or a
        // mirror): they grant exactly that host.
        .capability(Capability::HttpFetch(vec!["*".into()]))
    }

    fn run(_ctx: &Context, input: Input) -> Result<Output, Error> {
        let target = input.company_id.as_ref().map(|id| EntityRef {
            kind: EntityKind::Company,
            id: id.clone(),
        });
        let company: Map<String, Value> = match &target {
            Some(t) => crm::get(t)?,
            None => Map::new(),
        };
        let text = |name: &str| {
            company
                .get(name)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let inn = input
            .inn
            .as_deref()
            .map(str::trim)
            .map(str::to_owned)
            .or_else(|| text("inn"))
            .ok_or_else(|| {
                Error::InvalidInput(match &input.company_id {
                    Some(id) => format!("inn: company {id} has no INN; enter it first"),
                    None => "inn: give the INN to look up (or a company_id)".to_owned(),
                })
            })?;
        // An INN that fails its checksum is a typo: asking the registry
        // would cost a request and find nothing.
        req::check_inn(&inn).map_err(|e| Error::InvalidInput(format!("inn: {e}")))?;
        let registry = Registry::from_config()?;
        let kpp = text("kpp").filter(|_| inn.len() == 10 && text("inn").as_deref() == Some(&inn));
        let party = registry.party(&inn, kpp.as_deref())?.ok_or_else(|| {
            Error::NotFound(format!("the registry knows no company with INN {inn}"))
        })?;
        let status = party
            .state
            .as_ref()
            .and_then(|s| s.status.clone())
            .unwrap_or_else(|| "ACTIVE".into());
        if let Some((_, words)) = CLOSED.iter().find(|(code, _)| *code == status) {
            let state = party.state.as_ref();
            let date = state
                .and_then(|s| s.liquidation_date.or(s.actuality_date))
                .and_then(moscow_date)
                .map(|d| format!(" since {d}"))
                .unwrap_or_default();
            return Err(Error::Failed(format!(
                "the company with INN {inn} is {words}{date} (registry status {status}): nothing was filled"
            )));
        }

        let mut fill = party_fields(&party, &inn);
        let fields: Map<String, Value> = fill
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::String(v.clone())))
            .collect();
        let Some(target) = target else {
            // No company of ours: answer what the registry says, and
            // create the company only when asked.
            let created = if input.create {
                let made = crm::create(EntityKind::Company, &Value::Object(fields.clone()))?;
                crm::add_note(
                    &made,
                    &format!("Created from the company registry by INN {inn}"),
                )?;
                Some(made.id)
            } else {
                None
            };
            return Ok(Output {
                inn,
                status,
                short_name: text_of(&fields, "short_name"),
                changed: Map::new(),
                bank: "no BIK".to_owned(),
                company_id: created,
                fields,
            });
        };
        let bank = match text("bik") {
            None => "no BIK".to_owned(),
            Some(bik) => match registry.bank(&bik)? {
                None => format!("the registry knows no bank with BIK {bik}"),
                Some(bank) => {
                    if let Some(name) = bank.name.payment.filter(|n| !n.trim().is_empty()) {
                        fill.push(("bank_name", name));
                    }
                    if let Some(account) = bank.correspondent_account {
                        req::check_correspondent_account(&account, &bik).map_err(|e| {
                            Error::Failed(format!(
                                "the registry's correspondent account {account} for BIK {bik} does not check: {e}"
                            ))
                        })?;
                        fill.push(("correspondent_account", account));
                    }
                    "filled".to_owned()
                }
            },
        };

        let mut changed = Map::new();
        let mut patch = Map::new();
        for (field, new) in fill {
            let old = company.get(field).cloned().unwrap_or(Value::Null);
            if old.as_str() != Some(new.as_str()) {
                changed.insert(field.to_owned(), json!([old, new]));
                patch.insert(field.to_owned(), Value::String(new));
            }
        }
        if party.kind.as_deref() == Some("INDIVIDUAL")
            && company.get("kpp").is_some_and(|k| !k.is_null())
        {
            // A sole trader has no KPP: one left from before would be refused.
            changed.insert("kpp".into(), json!([company.get("kpp"), null]));
            patch.insert("kpp".into(), Value::Null);
        }
        let bank_state = if bank == "filled"
            && !changed.contains_key("bank_name")
            && !changed.contains_key("correspondent_account")
        {
            "unchanged".to_owned()
        } else {
            bank
        };
        if !patch.is_empty() {
            crm::update(&target, &Value::Object(patch.clone()))?;
            crm::add_note(&target, &change_note(&inn, &changed))?;
        }
        let short_name = patch
            .get("short_name")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| text("short_name"))
            .unwrap_or_default();
        Ok(Output {
            inn,
            status,
            short_name,
            changed,
            bank: bank_state,
            company_id: Some(target.id),
            fields,
        })
    }
}

/// A text field of `map`, or "".
fn text_of(map: &Map<String, Value>, key: &str) -> String {
    map.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// The company fields the registry's party fills: (field, value).
fn party_fields(party: &Party, inn: &str) -> Vec<(&'static str, String)> {
    let individual = party.kind.as_deref() == Some("INDIVIDUAL");
    let mut out: Vec<(&'static str, String)> = vec![
        ("inn", party.inn.clone().unwrap_or_else(|| inn.to_owned())),
        (
            "kind",
            if individual {
                "sole_trader"
            } else {
                "organisation"
            }
            .to_owned(),
        ),
    ];
    let mut put = |field: &'static str, value: Option<String>| {
        if let Some(v) = value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()) {
            out.push((field, v));
        }
    };
    put("short_name", party.name.short_with_opf.clone());
    put("full_name", party.name.full_with_opf.clone());
    put(
        "legal_form",
        party.opf.as_ref().and_then(|o| o.short.clone()),
    );
    if !individual {
        put("kpp", party.kpp.clone());
    }
    put("ogrn", party.ogrn.clone());
    put(
        "legal_address",
        party
            .address
            .as_ref()
            .and_then(|a| a.unrestricted_value.clone()),
    );
    if individual {
        put("director", party.fio.as_ref().and_then(registry::Fio::full));
    } else {
        put(
            "director",
            party.management.as_ref().and_then(|m| m.name.clone()),
        );
        put(
            "director_post",
            party.management.as_ref().and_then(|m| m.post.clone()),
        );
    }
    put("okved", party.okved.clone());
    put("registered_on", party.ogrn_date.and_then(moscow_date));
    out
}

/// The timeline note: what changed, field by field.
fn change_note(inn: &str, changed: &Map<String, Value>) -> String {
    let mut lines = vec![format!("Filled from the company registry by INN {inn}:")];
    for (field, pair) in changed {
        let show = |v: &Value| match v {
            Value::Null => "—".to_owned(),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        lines.push(format!("{field}: {} → {}", show(&pair[0]), show(&pair[1])));
    }
    lines.join("\n")
}

robota_sdk::export_action!(LookupCompany);
