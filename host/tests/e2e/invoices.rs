//! Scenario 1 end to end with the real binary, the real standard actions,
//! the example processes as shipped, and a real SMTP server on loopback: a
//! deal entering "Invoice" gets one invoice, its PDF (whose text is read back
//! with pypdf) is e-mailed to the client, a bank statement marks it paid and
//! moves the deal, and at 09:00 the overdue invoices are chased once.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use crate::common;

use common::{created, items};

use chrono::{Duration as Days, Utc};
use common::cp1251;
use common::server::{Api, Site};
use common::smtp::{Smtp, free_port, pdf_text, read_message, serve_args, wait_for_mail};
use serde_json::{Value, json};
use std::time::Duration;

const INVOICE_ON_STAGE: &str = include_str!("../../../examples/processes/invoice-on-stage.toml");
const INVOICE_PAID: &str = include_str!("../../../examples/processes/invoice-paid.toml");
const OVERDUE: &str = include_str!("../../../examples/processes/overdue-invoices.toml");

/// The buyer's INN (a valid one) and e-mail.
const BUYER_INN: &str = "7707083893";
const BUYER_EMAIL: &str = "buh@romashka.example";

/// A manager, a buyer company with requisites, and a deal for 480 000 ₽ in
/// two lines; returns (manager id, company id, deal id).
async fn seed(api: &Api, title: &str) -> (String, String, String) {
    let manager = created(
        api,
        "/api/v1/users",
        json!({ "email": format!("{}@seller.example", title.to_lowercase()), "name": "Иван Петров", "role": "manager" }),
    )
    .await;
    let company = created(
        api,
        // Each deal of these tests has its own buyer record, the same company.
        "/api/v1/companies?on_duplicate=create",
        json!({
            "kind": "organisation", "short_name": "ООО «Ромашка»", "inn": BUYER_INN, "kpp": "773601001",
            "legal_address": "117312, г. Москва, ул. Вавилова, д. 19", "email": BUYER_EMAIL, "region": "Москва"
        }),
    )
    .await;
    let deal = created(
        api,
        "/api/v1/deals",
        json!({
            "title": title, "currency": "RUB", "company_id": company, "responsible_id": manager,
            "items": [
                { "name": "Насос центробежный", "quantity": "2", "price": "200000.00", "vat_rate": "20" },
                { "name": "Монтаж", "quantity": "1", "unit": "усл", "price": "80000.00", "vat_rate": "20" }
            ]
        }),
    )
    .await;
    (manager, company, deal)
}

async fn move_deal(api: &Api, deal: &str, stage: &str) {
    let a = api
        .patch(&format!("/api/v1/deals/{deal}"), &json!({ "stage": stage }))
        .await;
    assert_eq!(a.status, 200, "moving {deal} to {stage}: {}", a.body);
}

/// Today in the company's time zone: the day the processes issue invoices
/// on, and so the day the test's payments are dated (a payment dated before
/// its invoice's issue is not matched).
fn company_today() -> chrono::NaiveDate {
    Utc::now()
        .with_timezone(&robota::clock::COMPANY_TIMEZONE)
        .date_naive()
}

fn statement(docs: &[(&str, &str, &str, &str)]) -> String {
    let paid_on = company_today().format("%d.%m.%Y");
    let mut s = String::from(
        "1CClientBankExchange\r\nВерсияФормата=1.03\r\nКодировка=Windows\r\nРасчСчет=40702810500000001234\r\n",
    );
    for (number, amount, payer_inn, purpose) in docs {
        s.push_str(&format!(
            "СекцияДокумент=Платежное поручение\r\nНомер={number}\r\nДата={paid_on}\r\nСумма={amount}\r\n\
             ПлательщикИНН={payer_inn}\r\nПлательщик1=ООО «Ромашка»\r\nПолучательСчет=40702810500000001234\r\n\
             ПолучательИНН=7736207543\r\nНазначениеПлатежа={purpose}\r\nКонецДокумента\r\n"
        ));
    }
    s.push_str("КонецФайла\r\n");
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invoice_is_issued_once_rendered_mailed_with_its_pdf_and_paid_from_a_statement() {
    let site = Site::new(&[
        ("invoice-on-stage.toml", INVOICE_ON_STAGE),
        ("invoice-paid.toml", INVOICE_PAID),
    ]);
    let maildir = site.dir.path().join("maildir");
    let port = free_port();
    let _smtp = Smtp::start(port, &maildir);
    let args = serve_args(port, "billing@seller.example");
    let server = site.start(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let api = Api::new(&server.url, server.token.as_deref());
    let (manager, _, deal) = seed(&api, "Pumps").await;

    move_deal(&api, &deal, "invoice").await;
    let runs = api
        .wait_for(
            "/api/v1/runs?process=invoice-on-stage",
            Duration::from_secs(30),
            |b| items(b).first().is_some_and(|r| r["status"] == "completed"),
        )
        .await;
    assert_eq!(items(&runs).len(), 1);
    let invoices = api
        .get(&format!("/api/v1/invoices?deal_id={deal}"))
        .await
        .body;
    assert_eq!(items(&invoices).len(), 1);
    let invoice = items(&invoices)[0].clone();
    let id = invoice["id"].as_str().unwrap().to_owned();
    let number = invoice["number"].as_str().unwrap().to_owned();
    assert_eq!(invoice["total"], "480000.00");
    assert_eq!(invoice["vat_total"], "80000.00");
    assert_eq!(invoice["status"], "sent");
    assert_eq!(invoice["buyer"]["inn"], BUYER_INN);
    assert_eq!(invoice["seller"]["inn"], "7736207543");
    let deal_now = api.get(&format!("/api/v1/deals/{deal}")).await.body;
    assert_eq!(deal_now["stage"], "invoice_sent");

    // The e-mail arrives with the PDF, whose text holds the number, the
    // buyer's INN and the total in words.
    let mails = wait_for_mail(&maildir, 1, Duration::from_secs(20)).await;
    assert_eq!(mails.len(), 1);
    let mail = read_message(&mails[0]);
    assert_eq!(mail["to"], BUYER_EMAIL);
    assert!(
        mail["subject"].as_str().unwrap().contains(&number),
        "{mail}"
    );
    let attachments = mail["attachments"].as_array().unwrap();
    assert_eq!(attachments.len(), 1, "{mail}");
    assert_eq!(attachments[0]["content_type"], "application/pdf");
    assert_eq!(attachments[0]["filename"], format!("Счёт {number}.pdf"));
    let text = attachments[0]["text"].as_str().unwrap();
    assert!(
        text.contains(&format!("Счёт на оплату № {number}")),
        "{text}"
    );
    assert!(text.contains(&format!("ИНН {BUYER_INN}")), "{text}");
    assert!(
        text.contains("Четыреста восемьдесят тысяч рублей 00 копеек"),
        "{text}"
    );
    assert!(text.contains("В том числе НДС 20%"), "{text}");

    // The outbox shows the message: its text in Russian formats and its
    // attachment, which downloads as the PDF that was sent.
    let listed = api.get("/api/v1/outbox").await.body;
    let mail_id = items(&listed)[0]["id"].as_str().unwrap().to_owned();
    let message = api.get(&format!("/api/v1/outbox/{mail_id}")).await;
    assert_eq!(message.status, 200, "{}", message.body);
    let body = message.body["text_body"].as_str().unwrap();
    assert!(body.contains("на сумму 480\u{a0}000,00\u{a0}₽."), "{body}");
    assert!(!body.contains("RUB"), "{body}");
    let html = message.body["html_body"].as_str().unwrap();
    assert!(html.contains("480\u{a0}000,00\u{a0}₽"), "{html}");
    assert_eq!(message.body["to"], json!([BUYER_EMAIL]));
    let file = &message.body["files"][0];
    assert_eq!(file["filename"], format!("Счёт {number}.pdf"));
    assert_eq!(file["content_type"], "application/pdf");
    let name: String =
        url::form_urlencoded::byte_serialize(format!("Счёт {number}.pdf").as_bytes()).collect();
    let (status, content_type, sent_pdf) = api
        .get_bytes(&format!(
            "/api/v1/outbox/{mail_id}/attachments/{}",
            name.replace('+', "%20")
        ))
        .await;
    assert_eq!((status, content_type.as_str()), (200, "application/pdf"));
    assert_eq!(file["size"], json!(sent_pdf.len()));
    assert_eq!(api.get("/api/v1/outbox/no-such-mail").await.status, 404);
    let (status, _, _) = api
        .get_bytes(&format!("/api/v1/outbox/{mail_id}/attachments/other.pdf"))
        .await;
    assert_eq!(status, 404);

    // The same PDF downloads from the API.
    let (status, content_type, pdf) = api.get_bytes(&format!("/api/v1/invoices/{id}/pdf")).await;
    assert_eq!((status, content_type.as_str()), (200, "application/pdf"));
    assert!(pdf_text(&pdf).contains(&number));
    let missing = api.get("/api/v1/invoices/no-such-invoice/pdf").await;
    assert_eq!(missing.status, 404);

    // The manager was told: the run's last step notified them.
    let run_id = items(&runs)[0]["id"].as_str().unwrap();
    let run = api.get(&format!("/api/v1/runs/{run_id}")).await.body;
    let last = run["steps"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["output"]["user_id"], manager.as_str(), "{run}");

    // Entering the stage again makes no second invoice.
    move_deal(&api, &deal, "negotiation").await;
    move_deal(&api, &deal, "invoice").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let invoices = api
        .get(&format!("/api/v1/invoices?deal_id={deal}"))
        .await
        .body;
    assert_eq!(
        items(&invoices).len(),
        1,
        "one invoice per deal: {invoices}"
    );

    // Bad statements: a clear 422 and nothing changes.
    let truncated = statement(&[(
        "15",
        "480000.00",
        BUYER_INN,
        &format!("Оплата по счету № {number}"),
    )])
    .replace("КонецФайла\r\n", "");
    let a = api
        .post_bytes("/api/v1/bank-statements", "text/plain", cp1251(&truncated))
        .await;
    assert_eq!(a.status, 422, "{}", a.body);
    assert!(
        a.body["detail"].as_str().unwrap().contains("КонецФайла"),
        "{}",
        a.body
    );
    let bad_amount = statement(&[(
        "15",
        "480 000,0O",
        BUYER_INN,
        &format!("Оплата по счету № {number}"),
    )]);
    let a = api
        .post_bytes("/api/v1/bank-statements", "text/plain", cp1251(&bad_amount))
        .await;
    assert_eq!(a.status, 422, "{}", a.body);
    assert!(
        a.body["detail"].as_str().unwrap().contains("Сумма"),
        "{}",
        a.body
    );
    let a = api
        .post_bytes(
            "/api/v1/bank-statements",
            "text/plain",
            b"not a statement".to_vec(),
        )
        .await;
    assert_eq!(a.status, 422);
    assert_eq!(
        api.get(&format!("/api/v1/invoices/{id}")).await.body["status"],
        "sent"
    );

    // A Windows-1251 statement: one payment for our invoice, one with the
    // wrong amount, one for an invoice we never issued.
    let good = statement(&[
        (
            "15",
            "480000.00",
            BUYER_INN,
            &format!("Оплата по счету № {number} от 22.11.2026, в т.ч. НДС"),
        ),
        (
            "16",
            "1000.00",
            BUYER_INN,
            &format!("Частичная оплата счета {number}"),
        ),
        (
            "17",
            "5000.00",
            "5001007329",
            "Оплата по счету № 2026-99999",
        ),
    ]);
    let a = api
        .post_bytes("/api/v1/bank-statements", "text/plain", cp1251(&good))
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let report = a.body;
    assert_eq!(report["incoming"], 3);
    assert_eq!(report["matched"].as_array().unwrap().len(), 1, "{report}");
    assert_eq!(report["matched"][0]["invoice_number"], number);
    let unmatched = report["unmatched"].as_array().unwrap();
    assert_eq!(unmatched.len(), 2, "{report}");
    // The partial payment is judged after the full one was applied: the
    // invoice is paid by then.
    assert!(
        unmatched[0]["reason"]
            .as_str()
            .unwrap()
            .contains("already paid"),
        "{report}"
    );
    assert!(
        unmatched[1]["reason"]
            .as_str()
            .unwrap()
            .contains("no invoice number of ours"),
        "{report}"
    );
    // The same reasons as codes with their parameters, for a client to say.
    assert_eq!(
        unmatched[0]["reasons"],
        json!([{"code": "already-paid", "params": {"invoice": number}}]),
        "{report}"
    );
    assert_eq!(
        unmatched[1]["reasons"][0]["code"], "no-invoice-number",
        "{report}"
    );
    let paid = api.get(&format!("/api/v1/invoices/{id}")).await.body;
    assert_eq!(paid["status"], "paid");
    assert_eq!(paid["paid_date"], json!(company_today().to_string()));
    // The paid process moves the deal and tells the manager.
    api.wait_for(
        &format!("/api/v1/deals/{deal}"),
        Duration::from_secs(20),
        |d| d["stage"] == "paid",
    )
    .await;
    api.wait_for(
        "/api/v1/runs?process=invoice-paid",
        Duration::from_secs(20),
        |b| items(b).first().is_some_and(|r| r["status"] == "completed"),
    )
    .await;

    // The report sees one invoice, paid.
    let r = api
        .get("/api/v1/reports/invoices?from=2000-01-01&to=2100-01-01")
        .await
        .body;
    assert_eq!(r["issued"]["count"], 1, "{r}");
    assert_eq!(r["issued"]["by_currency"][0]["total"], "480000.00");
    assert_eq!(r["share_paid"], "1");
    let bad = api.get("/api/v1/reports/invoices?from=yesterday").await;
    assert_eq!(bad.status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_deals_get_distinct_consecutive_numbers() {
    let site = Site::new(&[("invoice-on-stage.toml", INVOICE_ON_STAGE)]);
    let server = site.start(&["--workers", "4"]);
    let api = Api::new(&server.url, server.token.as_deref());
    let mut deals = Vec::new();
    for i in 0..8 {
        deals.push(seed(&api, &format!("Deal{i}")).await.2);
    }
    // All moved at once: their create-invoice steps run side by side on the
    // workers and race for the next number.
    for d in &deals {
        move_deal(&api, d, "invoice").await;
    }
    api.wait_for(
        "/api/v1/runs?process=invoice-on-stage&status=completed",
        Duration::from_secs(60),
        |b| items(b).len() == 8,
    )
    .await;
    let invoices = api.get("/api/v1/invoices?limit=100").await.body;
    let mut seqs: Vec<i64> = items(&invoices)
        .iter()
        .map(|i| i["seq"].as_i64().unwrap())
        .collect();
    seqs.sort_unstable();
    assert_eq!(
        seqs,
        (1..=8).collect::<Vec<_>>(),
        "gap-free and distinct: {invoices}"
    );
    let mut numbers: Vec<&str> = items(&invoices)
        .iter()
        .map(|i| i["number"].as_str().unwrap())
        .collect();
    numbers.dedup();
    assert_eq!(numbers.len(), 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_nine_overdue_invoices_are_chased_once_and_a_long_overdue_one_gets_a_meeting() {
    let site = Site::new(&[("overdue-invoices.toml", OVERDUE)]);
    let server = site.start(&[]);
    let api = Api::new(&server.url, server.token.as_deref());
    let (manager, company, deal) = seed(&api, "Late").await;
    // The clock is moved one day on below; the run's "today" is then
    // tomorrow, in the company's time zone.
    let run_day = (Utc::now() + Days::days(1))
        .with_timezone(&chrono_tz::Europe::Moscow)
        .date_naive();
    let invoice = |due: chrono::NaiveDate, status: &str| {
        json!({
            "deal_id": deal, "buyer_company_id": company, "currency": "RUB",
            "buyer": { "name": "ООО «Ромашка»", "inn": BUYER_INN, "email": BUYER_EMAIL },
            "seller": { "name": "ООО «Робота»", "inn": "7736207543" },
            "issue_date": (due - Days::days(5)).to_string(), "due_date": due.to_string(), "status": status,
            "items": [{ "name": "Насос", "quantity": "1", "price": "1000.00", "vat_rate": "20" }]
        })
    };
    let late = created(
        &api,
        "/api/v1/invoices",
        invoice(run_day - Days::days(3), "sent"),
    )
    .await;
    let long_late = created(
        &api,
        "/api/v1/invoices",
        invoice(run_day - Days::days(14), "sent"),
    )
    .await;
    let not_due = created(
        &api,
        "/api/v1/invoices",
        invoice(run_day + Days::days(3), "sent"),
    )
    .await;
    let paid = created(
        &api,
        "/api/v1/invoices",
        invoice(run_day - Days::days(3), "paid"),
    )
    .await;
    // A private buyer with no e-mail anywhere: its reminder fails, the others go.
    let mut no_email = invoice(run_day - Days::days(2), "sent");
    no_email["buyer"] = json!({ "name": "Частное лицо" });
    no_email.as_object_mut().unwrap().remove("buyer_company_id");
    let unreachable = created(&api, "/api/v1/invoices", no_email).await;

    api.post("/api/v1/dev/clock", &json!({ "advance": "1d" }))
        .await;
    api.wait_for(
        "/api/v1/runs?process=overdue-invoices",
        Duration::from_secs(30),
        |b| items(b).first().is_some_and(|r| r["status"] == "completed"),
    )
    .await;
    for (id, status) in [
        (&late, "overdue"),
        (&long_late, "overdue"),
        (&unreachable, "overdue"),
        (&not_due, "sent"),
        (&paid, "paid"),
    ] {
        assert_eq!(
            api.get(&format!("/api/v1/invoices/{id}")).await.body["status"],
            status,
            "{id}"
        );
    }
    // A reminder to the client for each overdue invoice, once.
    let outbox = api.get("/api/v1/outbox?limit=100").await.body;
    let reminders: Vec<&Value> = items(&outbox)
        .iter()
        .filter(|m| {
            m["subject"]
                .as_str()
                .unwrap()
                .starts_with("Напоминание об оплате")
        })
        .collect();
    assert_eq!(reminders.len(), 2, "{outbox}");
    assert!(reminders.iter().all(|m| m["to"] == json!([BUYER_EMAIL])));
    // The failed reminder is in the run's log, and the manager heard of all three.
    let runs = api.get("/api/v1/runs?process=overdue-invoices").await.body;
    let run_id = items(&runs)[0]["id"].as_str().unwrap();
    let run = api.get(&format!("/api/v1/runs/{run_id}")).await.body;
    let text = run.to_string();
    assert!(text.contains("no recipient: invoice"), "{run}");
    let notified = run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["step"].as_str().unwrap().starts_with("tell-manager["))
        .filter(|s| s["status"] == "done")
        .count();
    assert_eq!(notified, 3, "{run}");
    // The meeting task only for the one two weeks late.
    let tasks = api
        .get(&format!("/api/v1/tasks?entity_id={deal}"))
        .await
        .body;
    let meetings: Vec<&Value> = items(&tasks)
        .iter()
        .filter(|t| {
            t["title"]
                .as_str()
                .unwrap()
                .starts_with("Встреча с клиентом")
        })
        .collect();
    assert_eq!(meetings.len(), 1, "{tasks}");
    assert_eq!(meetings[0]["assignee_id"], manager.as_str());

    // A minute later nothing fires again.
    api.post("/api/v1/dev/clock", &json!({ "advance": "1m" }))
        .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        items(&api.get("/api/v1/runs?process=overdue-invoices").await.body).len(),
        1
    );
    let outbox = api.get("/api/v1/outbox?limit=100").await.body;
    assert_eq!(items(&outbox).len(), 2, "still two reminders: {outbox}");

    // The debt report sees both overdue invoices.
    let r = api
        .get(&format!("/api/v1/reports/debt?as_of={run_day}&weeks=3"))
        .await
        .body;
    assert_eq!(r["overdue"]["count"], 3, "{r}");
    assert_eq!(r["overdue"]["by_currency"][0]["total"], "3000.00");
    assert_eq!(r["top_debtors"][0]["inn"], BUYER_INN);
    assert_eq!(r["by_week"].as_array().unwrap().len(), 3);
}
