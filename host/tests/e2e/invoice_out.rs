//! Scenario 2, step 5 end to end: an invoice made by hand from a deal (the
//! real create-invoice and render-invoice-pdf), opened as a printable page,
//! shared by a link that works without a token until it expires or is
//! revoked, and exported for 1C as CommerceML.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use crate::common;

use common::created;

use chrono::{Duration as Span, SecondsFormat, Utc};
use common::server::{Api, Site};
use common::smtp::pdf_text;
use serde_json::json;

/// A company with requisites and a deal with two lines; returns the deal.
async fn deal(api: &Api) -> String {
    let company = created(
        api,
        "/api/v1/companies",
        json!({ "kind": "organisation", "short_name": "ООО «Ромашка»", "inn": "7707083893", "kpp": "773601001",
                "legal_address": "117312, г. Москва, ул. Вавилова, д. 19", "email": "buh@romashka.example" }),
    )
    .await;
    created(
        api,
        "/api/v1/deals",
        json!({ "title": "Насосы", "company_id": company, "items": [
            { "name": "Насос центробежный", "quantity": "2", "price": "200000.00", "vat_rate": "20" },
            { "name": "Монтаж <под ключ>", "quantity": "1", "unit": "усл", "price": "80000.00", "vat_rate": "20" }
        ] }),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invoice_by_hand_opens_as_a_page_and_a_pdf_and_a_second_needs_force() {
    let site = Site::new(&[]);
    let server = site.start(&[]);
    let api = Api::new(&server.url, server.token.as_deref());
    let deal = deal(&api).await;

    let bad = api
        .post(
            &format!("/api/v1/deals/{deal}/invoice"),
            &json!({ "due_in_days": "five" }),
        )
        .await;
    assert_eq!(bad.status, 422, "{}", bad.body);
    assert_eq!(
        api.post("/api/v1/deals/nope/invoice", &json!({}))
            .await
            .status,
        404
    );
    assert_eq!(
        api.get(&format!("/api/v1/invoices?deal_id={deal}"))
            .await
            .body["items"],
        json!([])
    );

    let a = api
        .post(
            &format!("/api/v1/deals/{deal}/invoice"),
            &json!({ "due_in_days": 5 }),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.body);
    let invoice = a.body["invoice"].clone();
    let id = invoice["id"].as_str().unwrap().to_owned();
    let number = invoice["number"].as_str().unwrap().to_owned();
    assert_eq!(invoice["total"], "480000.00");
    assert_eq!(a.body["pdf"], format!("/api/v1/invoices/{id}/pdf"));
    let (status, content_type, pdf) = api.get_bytes(&format!("/api/v1/invoices/{id}/pdf")).await;
    assert_eq!((status, content_type.as_str()), (200, "application/pdf"));
    assert!(pdf_text(&pdf).contains(&number));

    let (status, content_type, page) = api.get_bytes(&format!("/api/v1/invoices/{id}/html")).await;
    assert_eq!(
        (status, content_type.as_str()),
        (200, "text/html; charset=utf-8")
    );
    let page = String::from_utf8(page).unwrap();
    assert!(
        page.contains(&format!("Счёт на оплату № {number}")),
        "{page}"
    );
    assert!(
        page.contains("Четыреста восемьдесят тысяч рублей 00 копеек"),
        "{page}"
    );
    assert!(
        page.contains("Монтаж &lt;под ключ&gt;"),
        "names are escaped"
    );
    assert!(page.contains("ИНН 7707083893"));
    assert_eq!(api.get("/api/v1/invoices/nope/html").await.status, 404);

    let second = api
        .post(&format!("/api/v1/deals/{deal}/invoice"), &json!({}))
        .await;
    assert_eq!(second.status, 409, "{}", second.body);
    assert!(
        second.body["detail"].as_str().unwrap().contains(&number),
        "{}",
        second.body
    );
    assert!(
        second.body["hint"].as_str().unwrap().contains("force"),
        "{}",
        second.body
    );
    let forced = api
        .post(
            &format!("/api/v1/deals/{deal}/invoice"),
            &json!({ "force": true }),
        )
        .await;
    assert_eq!(forced.status, 201, "{}", forced.body);
    assert_ne!(forced.body["invoice"]["number"], number.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_share_link_opens_the_pdf_without_a_token_until_it_expires_or_is_revoked() {
    let site = Site::new(&[]);
    let server = site.start(&[]);
    let api = Api::new(&server.url, server.token.as_deref());
    let public = Api::new(&server.url, None);
    let deal = deal(&api).await;
    let a = api
        .post(&format!("/api/v1/deals/{deal}/invoice"), &json!({}))
        .await;
    let id = a.body["invoice"]["id"].as_str().unwrap().to_owned();

    for bad in [
        json!({ "days": 0 }),
        json!({ "days": 400 }),
        json!({ "weeks": 1 }),
    ] {
        let a = api
            .post(&format!("/api/v1/invoices/{id}/share"), &bad)
            .await;
        assert_eq!(a.status, 422, "{bad}: {}", a.body);
    }
    assert_eq!(
        public
            .post(&format!("/api/v1/invoices/{id}/share"), &json!({}))
            .await
            .status,
        401
    );
    let link = api
        .post(
            &format!("/api/v1/invoices/{id}/share"),
            &json!({ "days": 2 }),
        )
        .await;
    assert_eq!(link.status, 201, "{}", link.body);
    let url = link.body["url"].as_str().unwrap().to_owned();
    assert!(url.starts_with("/share/shr_") && url.len() > 40, "{url}");
    let (status, content_type, pdf) = public.get_bytes(&url).await;
    assert_eq!((status, content_type.as_str()), (200, "application/pdf"));
    assert!(pdf.starts_with(b"%PDF-"));
    assert_eq!(public.get("/share/shr_guessed").await.status, 404);
    let listed = api.get(&format!("/api/v1/invoices/{id}/shares")).await.body;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    assert!(
        !listed.to_string().contains(&url[7..]),
        "the token is never listed"
    );

    // Revoked: gone at once.
    let other = api
        .post(&format!("/api/v1/invoices/{id}/share"), &json!({}))
        .await;
    let other_url = other.body["url"].as_str().unwrap().to_owned();
    let other_id = other.body["id"].as_str().unwrap();
    assert_eq!(
        api.delete(&format!("/api/v1/invoices/{id}/shares/{other_id}"))
            .await
            .status,
        204
    );
    assert_eq!(public.get(&other_url).await.status, 410);
    assert_eq!(
        api.delete(&format!("/api/v1/invoices/{id}/shares/{other_id}"))
            .await
            .status,
        404
    );
    assert_eq!(
        public.get_bytes(&url).await.0,
        200,
        "the other link still works"
    );

    // Expired: after its days, by the server's clock.
    let later = (Utc::now() + Span::days(3)).to_rfc3339_opts(SecondsFormat::Secs, true);
    assert_eq!(
        api.post("/api/v1/dev/clock", &json!({ "to": later }))
            .await
            .status,
        200
    );
    let gone = public.get(&url).await;
    assert_eq!(gone.status, 410, "{}", gone.body);
    assert!(
        gone.body["detail"]
            .as_str()
            .unwrap()
            .contains("expired or was revoked")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invoices_of_a_period_export_as_commerceml() {
    let site = Site::new(&[]);
    let server = site.start(&[]);
    let api = Api::new(&server.url, server.token.as_deref());
    let deal = deal(&api).await;
    let today = Utc::now().date_naive();
    let mut numbers = Vec::new();
    for (i, days_ago) in [(0, 40), (1, 3), (2, 0)] {
        let issue = (today - Span::days(days_ago)).to_string();
        let a = api
            .post(
                &format!("/api/v1/deals/{deal}/invoice"),
                &json!({ "issue_date": issue, "force": i > 0 }),
            )
            .await;
        assert_eq!(a.status, 201, "{}", a.body);
        let id = a.body["invoice"]["id"].as_str().unwrap().to_owned();
        numbers.push(a.body["invoice"]["number"].as_str().unwrap().to_owned());
        if i < 2 {
            api.patch(
                &format!("/api/v1/invoices/{id}"),
                &json!({ "status": "sent" }),
            )
            .await;
        }
    }
    let from = (today - Span::days(7)).to_string();
    let path = format!("/api/v1/exports/invoices?from={from}&to={today}&format=commerceml");
    let (status, content_type, body) = api.get_bytes(&path).await;
    assert_eq!(
        (status, content_type.as_str()),
        (200, "application/xml; charset=utf-8")
    );
    let xml = String::from_utf8(body).unwrap();
    assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<КоммерческаяИнформация ВерсияСхемы=\"2.08\""), "{xml}");
    assert!(xml.trim_end().ends_with("</КоммерческаяИнформация>"));
    assert_eq!(
        xml.matches("<Документ>").count(),
        1,
        "one sent invoice in the period: {xml}"
    );
    assert!(xml.contains(&format!("<Номер>{}</Номер>", numbers[1])));
    assert!(
        !xml.contains(&format!("<Номер>{}</Номер>", numbers[0])),
        "issued before the period"
    );
    assert!(
        !xml.contains(&format!("<Номер>{}</Номер>", numbers[2])),
        "a draft is not exported"
    );
    for want in [
        "<ХозОперация>Счет на оплату</ХозОперация>",
        "<ИНН>7707083893</ИНН>",
        "<КПП>773601001</КПП>",
        "<Сумма>480000.00</Сумма>",
        "<Ставка>20</Ставка>",
        "<Наименование>Монтаж &lt;под ключ&gt;</Наименование>",
    ] {
        assert!(xml.contains(want), "{want}: {xml}");
    }
    // Well-formed: Python's parser reads it back.
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &xml).unwrap();
    let out = std::process::Command::new("python3")
        .args(["-c", "import sys, xml.etree.ElementTree as E; r = E.parse(sys.argv[1]).getroot(); print(len(r.findall('Документ')))"])
        .arg(file.path())
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "1",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let drafts = api
        .get_bytes(&format!(
            "/api/v1/exports/invoices?from={from}&to={today}&status=draft"
        ))
        .await;
    assert_eq!(
        String::from_utf8(drafts.2)
            .unwrap()
            .matches("<Документ>")
            .count(),
        1
    );
    for (bad, says) in [
        (
            "/api/v1/exports/invoices?from=2026-12-01".to_owned(),
            "give the period",
        ),
        (
            format!("/api/v1/exports/invoices?from={today}&to={from}"),
            "is after",
        ),
        (
            format!("/api/v1/exports/invoices?from={from}&to={today}&format=xlsx"),
            "only commerceml",
        ),
        (
            format!("/api/v1/exports/invoices?from=01.12.2026&to={today}"),
            "is not a date",
        ),
        (
            format!("/api/v1/exports/invoices?from={from}&to={today}&status=lost"),
            "status `lost`",
        ),
    ] {
        let a = api.get(&bad).await;
        assert_eq!(a.status, 400, "{bad}: {}", a.body);
        assert!(
            a.body["detail"].as_str().unwrap().contains(says),
            "{says}: {}",
            a.body
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invoice_is_emailed_with_its_pdf_or_as_a_link_that_opens_it() {
    let site = Site::new(&[]);
    let server = site.start(&[]);
    let api = Api::new(&server.url, server.token.as_deref());
    let public = Api::new(&server.url, None);
    let deal = deal(&api).await;
    let a = api
        .post(&format!("/api/v1/deals/{deal}/invoice"), &json!({}))
        .await;
    let id = a.body["invoice"]["id"].as_str().unwrap().to_owned();
    let number = a.body["invoice"]["number"].as_str().unwrap().to_owned();
    let send = format!("/api/v1/invoices/{id}/send");

    for (bad, says) in [
        (json!({ "as": "fax" }), "unknown variant `fax`"),
        (
            json!({ "to": ["not-an-address"] }),
            "`not-an-address` is not an e-mail address",
        ),
        (json!({ "as": "link", "days": 0 }), "days: 0"),
    ] {
        let a = api.post(&send, &bad).await;
        assert_eq!(a.status, 422, "{bad}: {}", a.body);
        assert!(
            a.body["detail"].as_str().unwrap().contains(says),
            "{says}: {}",
            a.body
        );
    }
    assert_eq!(api.get("/api/v1/outbox").await.body["items"], json!([]));
    assert_eq!(
        api.get(&format!("/api/v1/invoices/{id}")).await.body["status"],
        "draft"
    );

    let a = api.post(&send, &json!({})).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["to"], json!(["buh@romashka.example"]));
    let outbox = api.get("/api/v1/outbox?limit=1").await.body;
    let mail = api
        .get(&format!(
            "/api/v1/outbox/{}",
            outbox["items"][0]["id"].as_str().unwrap()
        ))
        .await
        .body;
    assert_eq!(
        mail["subject"].as_str().unwrap(),
        format!("Счёт № {number} от {}", printed_issue_date(&api, &id).await)
    );
    assert!(
        mail.to_string().contains(&format!("Счёт {number}.pdf")),
        "{mail}"
    );
    assert_eq!(
        api.get(&format!("/api/v1/invoices/{id}")).await.body["status"],
        "sent"
    );

    let a = api
        .post(
            &send,
            &json!({ "as": "link", "to": ["director@romashka.example"], "days": 3 }),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let link = a.body["link"].as_str().unwrap().to_owned();
    assert!(
        link.starts_with(&format!("{}/share/shr_", server.url)),
        "{link}"
    );
    let outbox = api.get("/api/v1/outbox?limit=10").await.body;
    let newest = outbox["items"]
        .as_array()
        .unwrap()
        .iter()
        .max_by_key(|m| m["id"].as_str().unwrap().to_owned())
        .unwrap()
        .clone();
    let mail = api
        .get(&format!(
            "/api/v1/outbox/{}",
            newest["id"].as_str().unwrap()
        ))
        .await
        .body;
    assert!(
        mail["text_body"].as_str().unwrap().contains(&link),
        "{mail}"
    );
    let path = link.strip_prefix(&server.url).unwrap();
    let (status, content_type, _) = public.get_bytes(path).await;
    assert_eq!((status, content_type.as_str()), (200, "application/pdf"));
}

/// The invoice's issue date as the letter prints it.
async fn printed_issue_date(api: &Api, id: &str) -> String {
    let issued = api.get(&format!("/api/v1/invoices/{id}")).await.body["issue_date"]
        .as_str()
        .unwrap()
        .to_owned();
    let d = chrono::NaiveDate::parse_from_str(&issued, "%Y-%m-%d").unwrap();
    d.format("%d.%m.%Y").to_string()
}
