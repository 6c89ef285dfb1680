//! CSV import of companies and contacts through the real binary: encodings,
//! delimiters and headings, every row validated, the duplicate policy
//! against the base and the file itself, and nothing changed by a file with
//! a bad row unless the import is partial.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use crate::common;

use common::items;

use common::cp1251;
use common::server::{Api, Site};
use serde_json::json;

async fn count(api: &Api, collection: &str) -> usize {
    items(
        &api.get(&format!("/api/v1/{collection}?limit=1000"))
            .await
            .body,
    )
    .len()
}

const COMPANIES: &str = "Название;ИНН;КПП;Телефон;E-mail\r\n\
Ромашка ООО;;;;\r\n\
ООО «Вектор»;5001007329;500101001;;zakupki@vector.example\r\n\
АО «Нева»;7810000019;781001001;;\r\n\
Ошибка;7707083894;;;\r\n\
ИП Иванов;770712345633;;8 916 555-12-34;\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_company_file_is_all_or_nothing_unless_partial() {
    let site = Site::new(&[]);
    let server = site.start(&[]);
    let api = Api::new(&server.url, server.token.as_deref());
    let romashka = api
        .post(
            "/api/v1/companies",
            &json!({ "kind": "organisation", "short_name": "ООО «Ромашка»", "inn": "7707083893" }),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let file = cp1251(COMPANIES);

    let a = api
        .post_bytes(
            "/api/v1/companies/import?on_duplicate=skip",
            "text/csv",
            file.clone(),
        )
        .await;
    assert_eq!(a.status, 422, "{}", a.body);
    assert_eq!(a.body["committed"], false);
    assert!(
        a.body["detail"]
            .as_str()
            .unwrap()
            .contains("1 of 5 rows are wrong"),
        "{}",
        a.body
    );
    let rows = a.body["rows"].as_array().unwrap();
    assert_eq!(rows[0]["line"], 2);
    assert_eq!(rows[0]["status"], "skipped");
    assert_eq!(rows[0]["duplicate_of"], json!([romashka]));
    assert_eq!(rows[3]["status"], "error");
    assert_eq!(rows[3]["field"], "company.inn");
    assert_eq!(rows[3]["reason"], "control digit does not match");
    assert_eq!(count(&api, "companies").await, 1, "nothing was imported");

    let a = api
        .post_bytes(
            "/api/v1/companies/import?on_duplicate=skip&partial=true",
            "text/csv",
            file.clone(),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        (
            a.body["created"].clone(),
            a.body["skipped"].clone(),
            a.body["errors"].clone()
        ),
        (json!(3), json!(1), json!(1))
    );
    assert_eq!(count(&api, "companies").await, 4);
    let ip = a.body["rows"][4]["id"].as_str().unwrap();
    let ip = api.get(&format!("/api/v1/companies/{ip}")).await.body;
    assert_eq!(
        (ip["kind"].as_str(), ip["phone"].as_str()),
        (Some("sole_trader"), Some("8 916 555-12-34"))
    );

    // The same file again: every good row is now a duplicate.
    let a = api
        .post_bytes("/api/v1/companies/import", "text/csv", file.clone())
        .await;
    assert_eq!(a.status, 422, "{}", a.body);
    let statuses: Vec<&str> = a.body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["error"; 5]);
    assert!(
        a.body["rows"][1]["reason"]
            .as_str()
            .unwrap()
            .starts_with("duplicate of"),
        "{}",
        a.body
    );

    // Merge fills what the stored record lacks.
    let merge = "Название;Телефон;Регион\nРомашка;+7 495 000-00-00;Москва\n";
    let a = api
        .post_bytes(
            "/api/v1/companies/import?on_duplicate=merge",
            "text/csv",
            merge.into(),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["rows"][0]["status"], "merged");
    assert_eq!(a.body["rows"][0]["id"], romashka.as_str());
    let r = api.get(&format!("/api/v1/companies/{romashka}")).await.body;
    assert_eq!(
        (r["phone"].as_str(), r["region"].as_str()),
        (Some("+7 495 000-00-00"), Some("Москва"))
    );
    assert_eq!(count(&api, "companies").await, 4);

    // Create makes the duplicate on purpose.
    let a = api
        .post_bytes(
            "/api/v1/companies/import?on_duplicate=create",
            "text/csv",
            merge.into(),
        )
        .await;
    assert_eq!(
        (a.status, a.body["created"].clone()),
        (200, json!(1)),
        "{}",
        a.body
    );
    assert_eq!(count(&api, "companies").await, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_files_and_rows_are_named_and_change_nothing() {
    let site = Site::new(&[]);
    let server = site.start(&[]);
    let api = Api::new(&server.url, server.token.as_deref());
    for (path, body, status, says) in [
        (
            "/api/v1/companies/import",
            "Название;Факс\nx;1\n",
            422,
            "`Факс` names no field of a company",
        ),
        ("/api/v1/companies/import", "Название;ИНН\n", 422, "no rows"),
        ("/api/v1/companies/import", "", 400, "the CSV file"),
        (
            "/api/v1/companies/import?on_duplicate=maybe",
            "short_name\nx\n",
            400,
            "on_duplicate `maybe`",
        ),
        (
            "/api/v1/companies/import?partial=yes",
            "short_name\nx\n",
            400,
            "partial `yes`",
        ),
        (
            "/api/v1/companies/import",
            "Название;Название\nx;y\n",
            422,
            "two columns fill `short_name`",
        ),
    ] {
        let a = api.post_bytes(path, "text/csv", body.into()).await;
        assert_eq!(a.status, status, "{path} {body}: {}", a.body);
        assert!(
            a.body["detail"].as_str().unwrap().contains(says),
            "{says}: {}",
            a.body
        );
    }
    assert_eq!(count(&api, "companies").await, 0);

    // Rows: too many cells, a bad e-mail, and the file's own duplicate.
    let file = "first_name,last_name,email,phone\n\
                Ада,Лавлейс,ada@example.org,8 916 123-45-67\n\
                Алан,Тьюринг,alan@example.org,+7 916 000 00 01,лишнее\n\
                Грейс,Хоппер,не-почта,\n\
                Ада,Лавлейс,ADA@example.org,\n";
    let a = api
        .post_bytes("/api/v1/contacts/import", "text/csv", file.into())
        .await;
    assert_eq!(a.status, 422, "{}", a.body);
    let rows = a.body["rows"].as_array().unwrap();
    assert_eq!(rows[0]["status"], "created", "{}", a.body);
    assert!(
        rows[1]["reason"]
            .as_str()
            .unwrap()
            .contains("5 cells, but the header has 4"),
        "{}",
        a.body
    );
    assert_eq!(rows[2]["field"], "contact.emails[0]");
    assert!(
        rows[3]["reason"]
            .as_str()
            .unwrap()
            .starts_with("duplicate of"),
        "{}",
        a.body
    );
    assert_eq!(count(&api, "contacts").await, 0);

    let a = api
        .post_bytes(
            "/api/v1/contacts/import?partial=true",
            "text/csv",
            file.into(),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        (a.body["created"].clone(), a.body["errors"].clone()),
        (json!(1), json!(3))
    );
    let stored = items(&api.get("/api/v1/contacts").await.body).clone();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["phones"], json!(["8 916 123-45-67"]));
}
