//! `robota demo`: `serve` on a local SQLite file seeded with demo users,
//! companies with valid requisites and deals, with the standard actions
//! (embedded in the binary) and the example processes installed.

use super::serve::{ServeOptions, serve};
use crate::crm::EntityKind;
use crate::crm::changes::Change;
use crate::crm::custom_fields::CustomFieldDef;
use crate::store::prelude::*;
use crate::store::settings::Stage;
use crate::store::sqlite::Durability;
use crate::store::{CrmStore, SqliteStore};
use anyhow::Context as _;
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};

/// The example processes shipped with the demo: (file name, text).
const PROCESSES: &[(&str, &str)] = &[
    (
        "call-on-negotiation.toml",
        include_str!("../../../examples/processes/call-on-negotiation.toml"),
    ),
    (
        "follow-up-after-invoice.toml",
        include_str!("../../../examples/processes/follow-up-after-invoice.toml"),
    ),
    (
        "lost-deal-review.toml",
        include_str!("../../../examples/processes/lost-deal-review.toml"),
    ),
    (
        "approve-payment-request.toml",
        include_str!("../../../examples/processes/approve-payment-request.toml"),
    ),
    (
        "start-negotiation.toml",
        include_str!("../../../examples/processes/start-negotiation.toml"),
    ),
    (
        "invoice-on-stage.toml",
        include_str!("../../../examples/processes/invoice-on-stage.toml"),
    ),
    (
        "invoice-paid.toml",
        include_str!("../../../examples/processes/invoice-paid.toml"),
    ),
    (
        "overdue-invoices.toml",
        include_str!("../../../examples/processes/overdue-invoices.toml"),
    ),
    (
        "lookup-company-on-inn.toml",
        include_str!("../../../examples/processes/lookup-company-on-inn.toml"),
    ),
    (
        "after-lead-conversion.toml",
        include_str!("../../../examples/processes/after-lead-conversion.toml"),
    ),
    (
        "meeting-reminder.toml",
        include_str!("../../../examples/processes/meeting-reminder.toml"),
    ),
    (
        "payment-request-approved.toml",
        include_str!("../../../examples/processes/payment-request-approved.toml"),
    ),
    (
        "payment-request-returned.toml",
        include_str!("../../../examples/processes/payment-request-returned.toml"),
    ),
    (
        "payment-request-paid.toml",
        include_str!("../../../examples/processes/payment-request-paid.toml"),
    ),
    (
        "lookup-company.toml",
        include_str!("../../../examples/processes/lookup-company.toml"),
    ),
];

/// The mail templates the demo's `send-email` reads, as files of the
/// plugins folder: (path, text).
pub const DEMO_TEMPLATES: &[(&str, &str)] = &[(
    "templates/invoice.html",
    include_str!("../../../examples/templates/invoice.html"),
)];

/// What the standard actions are granted in the demo (with the demo
/// seller's requisites); the end-to-end tests grant the same.
pub const DEMO_GRANTS: &str = r#"# What the admin granted each installed action.
[actions.add-note]
grants = ["crm.read", "crm.write"]

[actions.create-task]
grants = ["crm.read", "crm.write"]

[actions.move-stage]
grants = ["crm.read", "crm.write"]

[actions.set-status]
grants = ["crm.read", "crm.write"]

[actions.set-invoice-status]
grants = ["crm.read", "crm.write"]

[actions.create-invoice]
grants = ["crm.read", "crm.write"]

[actions.create-invoice.config]
"seller.name" = "ООО «Робота»"
"seller.inn" = "7736207543"
"seller.kpp" = "773601001"
"seller.address" = "119021, г. Москва, ул. Льва Толстого, д. 16"
"seller.bank_name" = "ПАО Сбербанк, г. Москва"
"seller.bik" = "044525225"
"seller.settlement_account" = "40702810500000001234"
"seller.correspondent_account" = "30101810400000000225"
"seller.director" = "Анна Админова"
"seller.accountant" = "Мария Бухова"
"seller.email" = "billing@demo.robota"

[actions.render-invoice-pdf]
grants = ["crm.read", "crm.write"]

[actions.send-email]
grants = ["crm.read", "mail.send"]

[actions.send-email.config]
"templates.invoice.html" = { file = "templates/invoice.html" }

[actions.notify]
grants = ["crm.read", "notify.send", "mail.send"]

[actions.import-bank-statement]
grants = ["crm.read", "crm.write"]
max_io = "8MiB"

[actions.export-payment-orders]
grants = ["crm.read"]
max_io = "8MiB"

[actions.export-payment-orders.config]
"payer.name" = "ООО «Робота»"
"payer.inn" = "7736207543"
"payer.kpp" = "773601001"
"payer.bank_name" = "ПАО Сбербанк, г. Москва"
"payer.bik" = "044525225"
"payer.settlement_account" = "40702810500000001234"
"payer.correspondent_account" = "30101810400000000225"

[actions.import-bank-statement.config]
"seller.inn" = "7736207543"
"seller.settlement_account" = "40702810500000001234"
"#;

/// DaData's API, where the demo's `lookup-company` asks unless
/// `ROBOTA_REGISTRY_URL` names another registry (such as
/// `scripts/registry-standin.py`).
pub const DADATA_URL: &str = "https://suggestions.dadata.ru/suggestions/api/4_1/rs";

/// The grants and config of `lookup-company` for a registry at `url` with
/// API key `key`: `http.fetch` to that host only.
pub fn registry_grants(url: &str, key: &str) -> anyhow::Result<String> {
    service_grants(
        "lookup-company",
        &["crm.read", "crm.write"],
        ("registry.url", url),
        ("registry.key", key),
    )
}

/// SMS.ru, where the demo's `send-sms` sends unless `ROBOTA_SMS_URL` names
/// another gateway (such as `scripts/sms-standin.py`).
pub const SMS_RU_URL: &str = "https://sms.ru";

/// The grants and config of `send-sms` for a gateway at `url` with API key
/// `key`: `http.fetch` to that host only.
pub fn sms_grants(url: &str, key: &str) -> anyhow::Result<String> {
    service_grants(
        "send-sms",
        &["crm.read"],
        ("gateway.url", url),
        ("gateway.api_id", key),
    )
}

/// plugins.toml lines for `action`, which talks to a service at a URL with
/// a key: `grants` plus `http.fetch` to the URL's host (and port) only.
fn service_grants(
    action: &str,
    grants: &[&str],
    (url_key, url): (&str, &str),
    (secret_key, secret): (&str, &str),
) -> anyhow::Result<String> {
    let parsed = url::Url::parse(url).with_context(|| format!("{action}: URL `{url}`"))?;
    let host = parsed
        .host_str()
        .with_context(|| format!("{action}: URL `{url}` has no host"))?;
    let host = match parsed.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    };
    let mut all: Vec<String> = grants.iter().map(|g| (*g).to_owned()).collect();
    all.push(format!("http.fetch={host}"));
    let config = toml::to_string(&std::collections::BTreeMap::from([
        (url_key, url),
        (secret_key, secret),
    ]))?;
    Ok(format!(
        "[actions.{action}]\ngrants = {}\n\n[actions.{action}.config]\n{config}",
        toml::Value::from(all)
    ))
}

/// Runs the demo in `dir`.
pub async fn demo(dir: PathBuf, listen: String, cache_dir: Option<PathBuf>) -> anyhow::Result<()> {
    let plugins = dir.join("plugins");
    let processes = dir.join("processes");
    for d in [&plugins, &processes] {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    // Written every start, so a newer binary brings its newer actions and
    // processes (a changed process becomes a new version).
    for (name, bytes) in robota_plugin_artifacts::STANDARD {
        write(&plugins.join(name), bytes)?;
    }
    for (path, text) in DEMO_TEMPLATES {
        let file = plugins.join(path);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        write(&file, text.as_bytes())?;
    }
    let env =
        |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_owned());
    let registry = registry_grants(
        &env("ROBOTA_REGISTRY_URL", DADATA_URL),
        &env("ROBOTA_REGISTRY_KEY", ""),
    )?;
    let sms = sms_grants(
        &env("ROBOTA_SMS_URL", SMS_RU_URL),
        &env("ROBOTA_SMS_KEY", ""),
    )?;
    write(
        &plugins.join(crate::engine::catalog::GRANTS_FILE),
        format!("{DEMO_GRANTS}\n{registry}\n{sms}").as_bytes(),
    )?;
    for (name, text) in PROCESSES {
        write(&processes.join(name), text.as_bytes())?;
    }
    let db = format!("sqlite://{}", dir.join("robota.db").display());
    let store = SqliteStore::open(&db).await?;
    if seed(&store).await? {
        println!("seeded demo data into {}", dir.join("robota.db").display());
    }
    // A token per role for the walks (made each start: only hashes are kept).
    let tokens = role_tokens(&store).await?;
    drop(store);
    println!(
        "try: paste the export lines below into another shell, then follow README's walks, e.g.\n  \
         curl -s -X PATCH -H \"$H\" -H 'content-type: application/json' \
         -d '{{\"stage\":\"invoice\"}}' $URL/api/v1/deals/demo-deal-pumps\n  \
         curl -s -H \"$H\" \"$URL/api/v1/invoices?deal_id=demo-deal-pumps\""
    );
    println!("the demo's people (manager, head of sales, accountant):\n{tokens}");
    serve(ServeOptions {
        db,
        listen,
        plugins: Some(plugins),
        processes: Some(processes),
        workers: None,
        dev_clock: true,
        cache_dir,
        durability: Durability::Full,
        print_new_admin_token: true,
        smtp: None,
        step_lease: crate::engine::runtime::DEFAULT_STEP_LEASE,
    })
    .await
}

/// Scenario 2's rules: what a lead must have from qualification on, and a
/// "contract signed" stage that needs the contract's custom fields.
async fn shape_crm(store: &SqliteStore) -> anyhow::Result<()> {
    let lead_fields: Vec<String> = ["phone", "email", "city", "topic"]
        .map(String::from)
        .to_vec();
    for status in [
        "qualification",
        "proposal_sent",
        "meeting",
        "agreement_received",
        "converted",
    ] {
        store.set_lead_status_fields(status, &lead_fields).await?;
    }
    store
        .put_stage(
            "pipeline-sales",
            &Stage {
                code: "contract_signed".into(),
                name: "Contract signed".into(),
                sort: 25,
                semantic: "open".into(),
                required_fields: vec!["company_id".into()],
            },
        )
        .await?;
    let field = |name: &str, label: &str, ty: &str| CustomFieldDef {
        name: name.into(),
        label: label.into(),
        ty: ty.into(),
        options: vec![],
        required_at: vec!["contract_signed".into()],
    };
    store
        .put_custom_field_defs(
            EntityKind::Deal,
            &[
                field("contract_number", "№ договора", "text"),
                field("act_signing_days", "Срок подписания акта, дней", "number"),
                field("site_address", "Адрес объекта", "text"),
            ],
        )
        .await?;
    Ok(())
}

/// Leads in several statuses of the lead pipeline.
fn demo_leads(manager: &str) -> Vec<Change> {
    let lead = |id: &str, fields: Value| {
        let mut fields = fields;
        fields["responsible_id"] = json!(manager);
        create(EntityKind::Lead, id, fields)
    };
    vec![
        lead(
            "demo-lead-bakery",
            json!({ "title": "Пекарня на Лесной: оборудование цеха", "name": "Пётр Соколов",
                    "phone": "8 (916) 555-12-34", "source": "website" }),
        ),
        lead(
            "demo-lead-cafe",
            json!({ "title": "Кафе «Уют»: франшиза", "name": "Елена Смирнова", "phone": "+7 903 111-22-33",
                    "email": "elena@uyut.example", "city": "Тверь", "topic": "Франшиза кофейни",
                    "status": "qualification", "source": "exhibition" }),
        ),
        lead(
            "demo-lead-fitness",
            json!({ "title": "Фитнес-клуб «Сила»", "name": "Андрей Волков", "phone": "+7 921 444-55-66",
                    "email": "volkov@sila.example", "city": "Санкт-Петербург", "topic": "Открытие клуба под ключ",
                    "status": "meeting", "source": "call" }),
        ),
        lead(
            "demo-lead-romashka",
            json!({ "title": "Ромашка: второй склад", "name": "Сергей Кузнецов", "phone": "8 495 123-45-67",
                    "email": "S.Kuznetsov@romashka.example", "city": "Москва", "topic": "Насосы для склада",
                    "status": "agreement_received", "source": "call" }),
        ),
    ]
}

fn write(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

fn create(kind: EntityKind, id: &str, fields: Value) -> Change {
    Change::Create {
        kind,
        id: id.to_owned(),
        fields: object(fields),
    }
}

/// Seeds an empty CRM; false if it already has users.
async fn seed(store: &SqliteStore) -> anyhow::Result<bool> {
    if !store.query(EntityKind::User, &[], 1).await?.is_empty() {
        return Ok(false);
    }
    let manager = "demo-manager";
    let changes = vec![
        create(
            EntityKind::User,
            "demo-admin",
            json!({ "email": "admin@demo.robota", "name": "Анна Админова", "role": "admin" }),
        ),
        create(
            EntityKind::User,
            manager,
            json!({ "email": "ivan@demo.robota", "name": "Иван Петров", "role": "manager" }),
        ),
        create(
            EntityKind::User,
            "demo-head-of-sales",
            json!({ "email": "olga@demo.robota", "name": "Ольга Сидорова", "role": "head_of_sales" }),
        ),
        create(
            EntityKind::User,
            "demo-accountant",
            json!({ "email": "buh@demo.robota", "name": "Мария Бухова", "role": "accountant" }),
        ),
        create(
            EntityKind::Company,
            "demo-company-romashka",
            json!({
            "kind": "organisation", "short_name": "ООО «Ромашка»", "full_name": "Общество с ограниченной ответственностью «Ромашка»",
            "inn": "7707083893", "kpp": "773601001", "legal_address": "117312, г. Москва, ул. Вавилова, д. 19",
            "email": "office@romashka.example", "region": "Москва",
            "bank_name": "ПАО Сбербанк", "bik": "044525225", "settlement_account": "40702810438000060473",
            "correspondent_account": "30101810400000000225", "responsible_id": manager }),
        ),
        create(
            EntityKind::Company,
            "demo-company-vector",
            json!({
            "kind": "organisation", "short_name": "ООО «Вектор»", "inn": "5001007329", "kpp": "500101001",
            "email": "zakupki@vector.example", "region": "Московская область", "responsible_id": manager }),
        ),
        create(
            EntityKind::Company,
            "demo-company-neva",
            json!({
            "kind": "organisation", "short_name": "АО «Нева»", "inn": "7810000019", "kpp": "781001001",
            "email": "info@neva.example", "region": "Санкт-Петербург", "responsible_id": manager }),
        ),
        create(
            EntityKind::Contact,
            "demo-contact-sergey",
            json!({
            "first_name": "Сергей", "last_name": "Кузнецов", "emails": ["s.kuznetsov@romashka.example"],
            "phones": ["+7 495 123-45-67"], "position": "Директор по закупкам", "company_id": "demo-company-romashka" }),
        ),
        create(
            EntityKind::Deal,
            "demo-deal-pumps",
            json!({
            "title": "Поставка насосов", "amount": "480000.00", "currency": "RUB",
            "company_id": "demo-company-romashka", "contact_id": "demo-contact-sergey", "responsible_id": manager,
            "items": [
                { "name": "Насос центробежный ЦН-40", "quantity": "2", "price": "200000.00", "vat_rate": "20" },
                { "name": "Монтаж и пусконаладка", "quantity": "1", "unit": "усл", "price": "80000.00", "vat_rate": "20" }
            ] }),
        ),
        create(
            EntityKind::Deal,
            "demo-deal-service",
            json!({
            "title": "Сервисное обслуживание", "amount": "9500.00", "currency": "RUB",
            "company_id": "demo-company-vector", "responsible_id": manager }),
        ),
        create(
            EntityKind::Deal,
            "demo-deal-valves",
            json!({
            "title": "Запорная арматура", "amount": "125000.00", "currency": "RUB",
            "company_id": "demo-company-neva", "responsible_id": manager }),
        ),
    ];
    shape_crm(store).await?;
    store.commit(&changes).await?;
    store.commit(&demo_leads(manager)).await?;
    let today = crate::clock::now()
        .with_timezone(&crate::clock::COMPANY_TIMEZONE)
        .date_naive();
    for request in demo_payment_requests(manager, today) {
        store.commit(&request).await?;
    }
    // Seed events are history, not news: start the engine after them.
    store.skip_events_to_now().await?;
    // News: one request the manager just sent, waiting in the head of
    // sales's approvals when the engine starts.
    store
        .commit(&[
            Change::By {
                user_id: manager.into(),
            },
            Change::Update {
                target: crate::crm::EntityRef {
                    kind: EntityKind::PaymentRequest,
                    id: "demo-pr-rent".into(),
                },
                fields: object(json!({ "status": "on_approval" })),
            },
        ])
        .await?;
    Ok(true)
}

/// Scenario 3's payment requests in every status, each as the change sets
/// that took it there (a request is never created approved or paid): an
/// incomplete draft, one ready to send (sent when the engine starts), two
/// approved (due today and in two days), one paid last week with its
/// payment order, one rejected.
fn demo_payment_requests(manager: &str, today: chrono::NaiveDate) -> Vec<Vec<Change>> {
    let day = |d: i64| (today + chrono::Duration::days(d)).to_string();
    let by = |user: &str| Change::By {
        user_id: user.into(),
    };
    let target = |id: &str| crate::crm::EntityRef {
        kind: EntityKind::PaymentRequest,
        id: id.into(),
    };
    let move_to = |id: &str, user: &str, status: &str| {
        vec![
            by(user),
            Change::Update {
                target: target(id),
                fields: object(json!({ "status": status })),
            },
        ]
    };
    let request = |id: &str, purpose: &str, amount: &str, pay_by: String, text: &str| {
        vec![
            by(manager),
            create(
                EntityKind::PaymentRequest,
                id,
                json!({ "purpose": purpose, "contractor": "ООО «Вектор»",
                        "contractor_company_id": "demo-company-vector", "amount": amount,
                        "currency": "RUB", "pay_by": pay_by, "inn": "5001007329", "kpp": "500101001",
                        "bik": "044525225", "settlement_account": "40702810438000060473",
                        "correspondent_account": "30101810400000000225",
                        "payment_purpose_text": text, "author_id": manager }),
            ),
        ]
    };
    let head = "demo-head-of-sales";
    let accountant = "demo-accountant";
    let mut paid = move_to("demo-pr-delivery", accountant, "paid");
    paid.insert(
        1,
        Change::AttachFile {
            target: target("demo-pr-delivery"),
            file: crate::crm::changes::StoredFile {
                name: "payment-order.txt".into(),
                content_type: "text/plain; charset=utf-8".into(),
                content: format!(
                    "СекцияДокумент=Платежное поручение\r\nНомер=41\r\nДата={}\r\nСумма=18000.00\r\nКонецДокумента\r\n",
                    day(-6)
                )
                .into_bytes(),
            },
        },
    );
    vec![
        vec![
            by(manager),
            create(
                EntityKind::PaymentRequest,
                "demo-pr-stationery",
                json!({ "purpose": "Канцтовары для офиса", "contractor": "ООО «Вектор»",
                        "author_id": manager }),
            ),
        ],
        request(
            "demo-pr-rent",
            "Аренда склада, январь",
            "150000.00",
            day(5),
            "Оплата аренды склада за январь по договору № 12-А. НДС не облагается",
        ),
        request(
            "demo-pr-install",
            "Монтаж насосов (субподряд)",
            "60000.00",
            day(0),
            "Оплата монтажных работ по договору № 7. В т.ч. НДС 20% 10000.00",
        ),
        move_to("demo-pr-install", manager, "on_approval"),
        move_to("demo-pr-install", head, "approved"),
        request(
            "demo-pr-parts",
            "Запчасти к насосам",
            "24500.50",
            day(2),
            "Оплата по счёту № 318. В т.ч. НДС 20% 4083.42",
        ),
        move_to("demo-pr-parts", manager, "on_approval"),
        move_to("demo-pr-parts", head, "approved"),
        request(
            "demo-pr-delivery",
            "Доставка насосов",
            "18000.00",
            day(-7),
            "Оплата доставки по счёту № 55. НДС не облагается",
        ),
        move_to("demo-pr-delivery", manager, "on_approval"),
        move_to("demo-pr-delivery", head, "approved"),
        paid,
        request(
            "demo-pr-ads",
            "Реклама в отраслевом журнале",
            "90000.00",
            day(10),
            "Оплата рекламы. НДС не облагается",
        ),
        move_to("demo-pr-ads", manager, "on_approval"),
        move_to("demo-pr-ads", head, "rejected"),
    ]
}

/// Tokens for the demo's people, one per role (the admin's is printed by
/// `serve`), as `export` lines the walks paste.
async fn role_tokens(store: &SqliteStore) -> anyhow::Result<String> {
    let mut out = String::new();
    for (var, user, role) in [
        ("H_MANAGER", "demo-manager", "manager"),
        ("H_HEAD", "demo-head-of-sales", "head_of_sales"),
        ("H_ACCOUNTANT", "demo-accountant", "accountant"),
    ] {
        let token =
            crate::api::auth::create_token(store, role, Some(user), "demo (printed at start)")
                .await?;
        out.push_str(&format!(
            "  export {var}=\"Authorization: Bearer {token}\"\n"
        ));
    }
    Ok(out)
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}
