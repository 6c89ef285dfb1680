//! Scenario 2's rules in the CRM itself, through the real binary: lead
//! statuses that require fields, custom fields that stages require (the
//! "contract signed" stage), and a deal's line items one at a time.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use crate::common;

use common::created_record;

use common::server::{Api, Site};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lead_enters_a_status_only_with_the_fields_it_requires() {
    let site = Site::new(&[]);
    let server = site.start(&[]);
    let admin = Api::new(&server.url, server.token.as_deref());
    let manager = Api::new(&server.url, Some(&site.token("manager")));

    let statuses = admin.get("/api/v1/lead-statuses").await;
    let codes: Vec<&str> = statuses.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        [
            "new",
            "qualification",
            "proposal_sent",
            "meeting",
            "agreement_received",
            "converted",
            "junk"
        ]
    );

    let required = json!({ "required_fields": ["phone", "email", "city", "topic"] });
    let refused = manager
        .put("/api/v1/lead-statuses/qualification", &required)
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    let bad = admin
        .put(
            "/api/v1/lead-statuses/qualification",
            &json!({ "required_fields": ["fax"] }),
        )
        .await;
    assert_eq!(bad.status, 422, "{}", bad.body);
    assert!(
        bad.body["detail"]
            .as_str()
            .unwrap()
            .contains("no field `fax`"),
        "{}",
        bad.body
    );
    let unknown = admin
        .put("/api/v1/lead-statuses/agreement", &required)
        .await;
    assert_eq!(unknown.status, 422, "{}", unknown.body);
    let set = admin
        .put("/api/v1/lead-statuses/qualification", &required)
        .await;
    assert_eq!(set.status, 200, "{}", set.body);
    assert_eq!(set.body["required_fields"], required["required_fields"]);

    let lead = created_record(
        &manager,
        "/api/v1/leads",
        json!({ "title": "Пекарня", "phone": "8 916 555-12-34" }),
    )
    .await;
    let id = lead["id"].as_str().unwrap();
    assert_eq!(lead["status"], "new");
    let path = format!("/api/v1/leads/{id}");

    let moved = manager
        .patch(&path, &json!({ "status": "qualification" }))
        .await;
    assert_eq!(moved.status, 422, "{}", moved.body);
    assert_eq!(moved.body["status"], 422, "the problem's own status stays");
    assert_eq!(moved.body["lead_status"], "qualification");
    assert_eq!(moved.body["missing"], json!(["email", "city", "topic"]));
    let after = manager.get(&path).await.body;
    assert_eq!(
        (after["status"].clone(), after["version"].clone()),
        (json!("new"), json!(1))
    );

    // Created straight into the status, the same rule holds.
    let direct = manager
        .post(
            "/api/v1/leads",
            &json!({ "title": "Кафе", "status": "qualification" }),
        )
        .await;
    assert_eq!(direct.status, 422, "{}", direct.body);
    assert_eq!(
        direct.body["missing"],
        json!(["phone", "email", "city", "topic"])
    );

    let moved = manager
        .patch(
            &path,
            &json!({ "status": "qualification", "email": "p@bakery.example", "city": "Тверь", "topic": "Оборудование" }),
        )
        .await;
    assert_eq!(moved.status, 200, "{}", moved.body);
    assert_eq!(moved.body["status"], "qualification");
    // The rule guards entering a status: a field cleared later is caught
    // by the next move.
    let cleared = manager.patch(&path, &json!({ "city": null })).await;
    assert_eq!(cleared.status, 200, "{}", cleared.body);
    admin
        .put("/api/v1/lead-statuses/proposal_sent", &required)
        .await;
    let next = manager
        .patch(&path, &json!({ "status": "proposal_sent" }))
        .await;
    assert_eq!(next.status, 422, "{}", next.body);
    assert_eq!(next.body["missing"], json!(["city"]));

    // `converted` is the conversion's to set; old status names are gone.
    let converted = manager
        .patch(&path, &json!({ "status": "converted" }))
        .await;
    assert_eq!(converted.status, 422, "{}", converted.body);
    assert!(
        converted.body["detail"]
            .as_str()
            .unwrap()
            .contains("/convert"),
        "{}",
        converted.body
    );
    let old = manager
        .patch(&path, &json!({ "status": "agreement" }))
        .await;
    assert_eq!(old.status, 422, "{}", old.body);
    let junk = manager.patch(&path, &json!({ "status": "junk" })).await;
    assert_eq!(junk.status, 200, "{}", junk.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_contract_stage_requires_custom_fields_of_their_types() {
    let site = Site::new(&[]);
    let server = site.start(&[]);
    let admin = Api::new(&server.url, server.token.as_deref());
    let manager = Api::new(&server.url, Some(&site.token("manager")));

    let stage = json!({ "name": "Contract signed", "sort": 25, "required_fields": ["company_id"] });
    assert_eq!(
        manager
            .put(
                "/api/v1/pipelines/pipeline-sales/stages/contract_signed",
                &stage
            )
            .await
            .status,
        403
    );
    let bad_stage = admin
        .put(
            "/api/v1/pipelines/pipeline-sales/stages/contract_signed",
            &json!({ "name": "x", "sort": 25, "required_fields": ["fax"] }),
        )
        .await;
    assert_eq!(bad_stage.status, 422, "{}", bad_stage.body);
    let put = admin
        .put(
            "/api/v1/pipelines/pipeline-sales/stages/contract_signed",
            &stage,
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.body);
    let codes: Vec<&str> = put.body["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        [
            "new",
            "negotiation",
            "contract_signed",
            "invoice",
            "invoice_sent",
            "paid",
            "lost"
        ]
    );

    let field = |name: &str, ty: &str| json!({ "name": name, "label": name, "type": ty, "required_at": ["contract_signed"] });
    let fields = json!({ "fields": [
        field("contract_number", "text"),
        field("act_signing_days", "number"),
        field("site_address", "text")
    ] });
    assert_eq!(
        manager
            .put("/api/v1/custom-fields/deal", &fields)
            .await
            .status,
        403
    );
    for (bad, says) in [
        (
            json!({ "fields": [{ "name": "x", "label": "x", "type": "money" }] }),
            "fields[0].type: `money`",
        ),
        (
            json!({ "fields": [{ "name": "Bad Name", "label": "x", "type": "text" }] }),
            "fields[0].name",
        ),
        (
            json!({ "fields": [{ "name": "x", "label": "x", "type": "text", "required_at": ["signed"] }] }),
            "`signed` is not a deal stage",
        ),
        (
            json!({ "fields": [{ "name": "title", "label": "x", "type": "text" }] }),
            "already has a field `title`",
        ),
    ] {
        let a = admin.put("/api/v1/custom-fields/deal", &bad).await;
        assert_eq!(a.status, 422, "{bad}: {}", a.body);
        assert!(
            a.body["detail"].as_str().unwrap().contains(says),
            "{says}: {}",
            a.body
        );
    }
    assert_eq!(
        admin.get("/api/v1/custom-fields/deal").await.body["fields"],
        json!([])
    );
    let a = admin.put("/api/v1/custom-fields/deals", &fields).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        manager.get("/api/v1/custom-fields/deal").await.body["fields"][1]["name"],
        "act_signing_days"
    );

    let company = created_record(
        &manager,
        "/api/v1/companies",
        json!({ "kind": "organisation", "short_name": "Ромашка" }),
    )
    .await;
    let deal = created_record(
        &manager,
        "/api/v1/deals",
        json!({ "title": "Склад", "company_id": company["id"] }),
    )
    .await;
    let path = format!("/api/v1/deals/{}", deal["id"].as_str().unwrap());
    let moved = manager
        .patch(&path, &json!({ "stage": "contract_signed" }))
        .await;
    assert_eq!(moved.status, 422, "{}", moved.body);
    assert_eq!(moved.body["stage"], "contract_signed");
    assert_eq!(
        moved.body["missing"],
        json!([
            "custom_fields.contract_number",
            "custom_fields.act_signing_days",
            "custom_fields.site_address"
        ])
    );
    let wrong_type = manager
        .patch(
            &path,
            &json!({ "custom_fields": { "act_signing_days": "ten" } }),
        )
        .await;
    assert_eq!(wrong_type.status, 422, "{}", wrong_type.body);
    assert_eq!(
        wrong_type.body["field"],
        "deal.custom_fields.act_signing_days"
    );
    let unknown = manager
        .patch(&path, &json!({ "custom_fields": { "colour": "red" } }))
        .await;
    assert_eq!(unknown.status, 422, "{}", unknown.body);
    assert_eq!(manager.get(&path).await.body["version"], 1);

    let signed = manager
        .patch(
            &path,
            &json!({ "stage": "contract_signed", "custom_fields": {
                "contract_number": "Д-2026/117", "act_signing_days": 10, "site_address": "Тверь, ул. Лесная, 5" } }),
        )
        .await;
    assert_eq!(signed.status, 200, "{}", signed.body);
    assert_eq!(signed.body["stage"], "contract_signed");

    // A definition cannot strand what a deal holds.
    let dropped = admin
        .put(
            "/api/v1/custom-fields/deal",
            &json!({ "fields": [field("contract_number", "text")] }),
        )
        .await;
    assert_eq!(dropped.status, 409, "{}", dropped.body);
    assert!(
        dropped.body["detail"]
            .as_str()
            .unwrap()
            .contains("act_signing_days"),
        "{}",
        dropped.body
    );
    let retyped = admin
        .put("/api/v1/custom-fields/deal", &json!({ "fields": [
            field("contract_number", "number"), field("act_signing_days", "number"), field("site_address", "text")] }))
        .await;
    assert_eq!(retyped.status, 409, "{}", retyped.body);
    assert_eq!(
        admin.get("/api/v1/custom-fields/deal").await.body["fields"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deal_lines_are_added_changed_and_removed_with_the_amount_exact() {
    let site = Site::new(&[]);
    let server = site.start(&[]);
    let manager = Api::new(&server.url, Some(&site.token("manager")));
    // The catalogue is the head of sales's; a manager sells from it.
    let head = Api::new(&server.url, Some(&site.token("head_of_sales")));
    let pump = created_record(
        &head,
        "/api/v1/products",
        json!({ "name": "Насос ЦН-40", "price": "200000.10", "currency": "RUB", "vat_rate": "20" }),
    )
    .await;
    let deal = created_record(&manager, "/api/v1/deals", json!({ "title": "Насосы" })).await;
    let items = format!("/api/v1/deals/{}/items", deal["id"].as_str().unwrap());

    let a = manager
        .post(
            &items,
            &json!({ "product_id": pump["id"], "quantity": "3" }),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.body);
    assert_eq!(a.body["items"][0]["name"], "Насос ЦН-40");
    assert_eq!(a.body["items"][0]["price"], "200000.10");
    assert_eq!(a.body["amount"], "600000.30");

    let a = manager
        .post(&items, &json!({ "name": "Монтаж", "quantity": "1.5", "unit": "ч", "price": "3333.33", "vat_rate": "none", "position": 1 }))
        .await;
    assert_eq!(a.status, 201, "{}", a.body);
    assert_eq!(a.body["items"][0]["name"], "Монтаж");
    // 1.5 × 3333.33 = 4999.995, rounded to 5000.00 by the line.
    assert_eq!(a.body["amount"], "605000.30");

    let a = manager
        .patch(&format!("{items}/2"), &json!({ "quantity": "1" }))
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["amount"], "205000.10");

    for (bad, status) in [
        (json!({ "quantity": "0" }), 422),
        (json!({ "price": 10.5 }), 422),
        (json!({ "vat_rate": "18" }), 422),
        (json!({ "colour": "red" }), 422),
    ] {
        let a = manager.patch(&format!("{items}/1"), &bad).await;
        assert_eq!(a.status, status, "{bad}: {}", a.body);
    }
    let missing = manager
        .patch(&format!("{items}/3"), &json!({ "quantity": "1" }))
        .await;
    assert_eq!(missing.status, 404, "{}", missing.body);
    let no_product = manager.post(&items, &json!({ "product_id": "nope" })).await;
    assert_eq!(no_product.status, 422, "{}", no_product.body);
    let at = manager
        .post(
            &items,
            &json!({ "name": "x", "quantity": "1", "price": "1", "vat_rate": "0", "position": 9 }),
        )
        .await;
    assert_eq!(at.status, 422, "{}", at.body);
    let now = manager
        .get(&format!("/api/v1/deals/{}", deal["id"].as_str().unwrap()))
        .await
        .body;
    assert_eq!(now["amount"], "205000.10");
    assert_eq!(now["items"].as_array().unwrap().len(), 2);

    let a = manager.delete(&format!("{items}/2")).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["amount"], "5000.00");
    let a = manager.delete(&format!("{items}/1")).await;
    assert_eq!(a.body["amount"], "0.00");
    assert_eq!(a.body["items"], json!([]));
}
