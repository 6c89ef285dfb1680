//! Actions reading and writing the CRM through the host: buffered writes,
//! read-your-own-writes, commit, validation with field names, outbox.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use crate::common;

use common::{crm_grants, host, request, store};
use robota::crm::{EntityKind, EntityRef};
use robota::plugins::{CallError, Grants};
use robota::store::CrmStore;
use robota_plugin_artifacts::{CHAOS, HELLO_RUST};
use serde_json::json;
use sqlx::Row;

#[tokio::test]
async fn a_crm_write_shows_up_in_the_store_after_the_commit() {
    let host = host();
    let chaos = host.load_file(CHAOS.as_ref()).await.unwrap();
    let store = store().await;
    let fields = json!({"kind": "organisation", "short_name": "ООО «Ромашка»", "inn": "7707083893", "kpp": "773601001", "bik": "044525225",
        "settlement_account": "40702810438000060473", "correspondent_account": "30101810400000000225"});
    let out = host
        .call(
            &chaos,
            request(
                json!({"do": "create", "kind": "company", "fields": fields}),
                crm_grants(),
                store.clone(),
            ),
        )
        .await
        .unwrap();
    let id = out.output["id"].as_str().unwrap().to_owned();
    let target = EntityRef {
        kind: EntityKind::Company,
        id: id.clone(),
    };
    // Buffered, not yet written: a failed step would change nothing.
    assert!(store.get(&target).await.unwrap().is_none());
    let report = store.commit(&out.changes).await.unwrap();
    assert_eq!(report.created, vec![target.clone()]);
    let company = store.get(&target).await.unwrap().expect("committed");
    assert_eq!(company["inn"], "7707083893");
    assert_eq!(company["short_name"], "ООО «Ромашка»");
    // The timeline records the creation.
    let n: i64 = sqlx::query(
        "SELECT COUNT(*) AS n FROM timeline WHERE entity_kind = 'company' AND entity_id = ?",
    )
    .bind(&id)
    .fetch_one(store.reader())
    .await
    .unwrap()
    .get("n");
    assert_eq!(n, 1);
}

#[tokio::test]
async fn an_action_reads_its_own_buffered_writes() {
    let host = host();
    let chaos = host.load_file(CHAOS.as_ref()).await.unwrap();
    let store = store().await;
    let input = json!({"do": "create-and-read", "kind": "deal", "fields": {"title": "Поставка столов", "amount": "150000.00"}});
    let out = host
        .call(&chaos, request(input, crm_grants(), store.clone()))
        .await
        .unwrap();
    assert_eq!(out.output["title"], "Поставка столов");
    assert_eq!(out.output["amount"], "150000.00");
    store.commit(&out.changes).await.unwrap();
    let deal = store
        .get(&EntityRef {
            kind: EntityKind::Deal,
            id: out.output["id"].as_str().unwrap().into(),
        })
        .await
        .unwrap()
        .unwrap();
    // The store filled in the default pipeline's first stage.
    assert_eq!(deal["stage"], "new");
}

#[tokio::test]
async fn bad_requisites_are_rejected_naming_the_field_and_nothing_is_written() {
    let host = host();
    let chaos = host.load_file(CHAOS.as_ref()).await.unwrap();
    let store = store().await;
    for (field, value) in [
        ("inn", "7707083894"),
        ("kpp", "77360100"),
        ("ogrn", "1027700132194"),
        ("bik", "04452522"),
        ("settlement_account", "40702810438000060474"),
    ] {
        let mut fields =
            json!({"kind": "organisation", "short_name": "ООО «Ромашка»", "bik": "044525225"});
        fields[field] = json!(value);
        let r = host
            .call(
                &chaos,
                request(
                    json!({"do": "create", "kind": "company", "fields": fields}),
                    crm_grants(),
                    store.clone(),
                ),
            )
            .await;
        match r {
            Err(CallError::Action {
                kind: "invalid-input",
                message,
            }) => assert!(
                message.contains(&format!("company.{field}")),
                "{field}: {message}"
            ),
            other => panic!("{field}: expected invalid-input, got {other:?}"),
        }
    }
    assert!(
        store
            .query(EntityKind::Company, &[], 10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn mail_is_queued_with_a_stable_message_id_and_notifications_reach_users() {
    let host = host();
    let chaos = host.load_file(CHAOS.as_ref()).await.unwrap();
    let store = store().await;
    let user = store
        .commit(&[robota::crm::changes::Change::Create {
            kind: EntityKind::User,
            id: "u-manager".into(),
            fields: json!({"email": "manager@example.ru", "name": "Мария", "role": "manager"})
                .as_object()
                .unwrap()
                .clone(),
        }])
        .await
        .unwrap();
    assert_eq!(user.created.len(), 1);
    let grants = Grants::parse(&["mail.send", "notify.send"]).unwrap();
    let out = host
        .call(
            &chaos,
            request(
                json!({"do": "mail", "to": "client@example.ru", "subject": "Счёт"}),
                grants.clone(),
                store.clone(),
            ),
        )
        .await
        .unwrap();
    let message_id = out.output["message_id"].as_str().unwrap().to_owned();
    assert!(message_id.contains("run-1/step-1"), "{message_id}");
    store.commit(&out.changes).await.unwrap();
    let row =
        sqlx::query("SELECT recipients, subject, status FROM mail_outbox WHERE message_id = ?")
            .bind(&message_id)
            .fetch_one(store.reader())
            .await
            .unwrap();
    assert_eq!(
        row.get::<String, _>("recipients"),
        r#"["client@example.ru"]"#
    );
    assert_eq!(row.get::<String, _>("subject"), "Счёт");
    assert_eq!(row.get::<String, _>("status"), "pending");

    let out = host
        .call(
            &chaos,
            request(
                json!({"do": "notify", "user_id": "u-manager"}),
                grants.clone(),
                store.clone(),
            ),
        )
        .await
        .unwrap();
    store.commit(&out.changes).await.unwrap();
    let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM notifications WHERE user_id = 'u-manager'")
        .fetch_one(store.reader())
        .await
        .unwrap()
        .get("n");
    assert_eq!(n, 1);
    // A notification to a user who does not exist fails the commit, naming it.
    let out = host
        .call(
            &chaos,
            request(
                json!({"do": "notify", "user_id": "nobody"}),
                grants,
                store.clone(),
            ),
        )
        .await;
    let committed = match out {
        Ok(out) => store
            .commit(&out.changes)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    assert!(committed.unwrap_err().contains("nobody"));
}

#[tokio::test]
async fn hello_rust_reads_a_deal_and_notes_on_its_timeline() {
    let host = host();
    let hello = host.load_file(HELLO_RUST.as_ref()).await.unwrap();
    let chaos = host.load_file(CHAOS.as_ref()).await.unwrap();
    let store = store().await;
    let created = host
        .call(
            &chaos,
            request(
                json!({"do": "create", "kind": "deal", "fields": {"title": "Ремонт офиса"}}),
                crm_grants(),
                store.clone(),
            ),
        )
        .await
        .unwrap();
    store.commit(&created.changes).await.unwrap();
    let deal_id = created.output["id"].as_str().unwrap().to_owned();

    let out = host
        .call(
            &hello,
            request(
                json!({"name": "Олег", "deal_id": deal_id}),
                crm_grants(),
                store.clone(),
            ),
        )
        .await
        .unwrap();
    store.commit(&out.changes).await.unwrap();
    let notes: Vec<String> =
        sqlx::query("SELECT text FROM timeline WHERE entity_id = ? AND kind = 'note'")
            .bind(&deal_id)
            .fetch_all(store.reader())
            .await
            .unwrap()
            .iter()
            .map(|r| r.get("text"))
            .collect();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].contains("Олег"), "{notes:?}");

    let missing = host
        .call(
            &hello,
            request(
                json!({"name": "Олег", "deal_id": "no-such-deal"}),
                crm_grants(),
                store,
            ),
        )
        .await;
    assert!(
        matches!(
            missing,
            Err(CallError::Action {
                kind: "not-found",
                ..
            })
        ),
        "{missing:?}"
    );
}
