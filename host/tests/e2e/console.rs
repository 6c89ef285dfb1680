//! The web console in a real browser (headless Chromium through
//! chromedriver) against `robota demo` and `robota serve`: signing in per
//! role, what each role is shown and refused, CSRF, and the scenarios'
//! work done by clicking. Failures leave a screenshot in
//! `target/console-failures/`.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use crate::common;

use common::browser::Browser;
use common::server::Server;
use std::process::Command;

/// `robota demo` in a temp folder: the server and its folder.
struct Demo {
    server: Server,
    _dir: tempfile::TempDir,
}

fn demo() -> Demo {
    demo_with(&[])
}

/// `robota demo` with these environment variables (the registry's URL).
fn demo_with(envs: &[(&str, &str)]) -> Demo {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_robota"));
    cmd.args(["demo", "--dir"])
        .arg(dir.path())
        .args(["--listen", "127.0.0.1:0"])
        .envs(envs.iter().copied());
    Demo {
        server: Server::spawn(cmd),
        _dir: dir,
    }
}

impl Demo {
    /// The token of the `export` line `var` (`H_MANAGER`), or the admin's.
    fn token(&self, var: &str) -> String {
        if var == "admin" {
            return self.server.token.clone().unwrap();
        }
        self.server.exports[var]
            .strip_prefix("Authorization: Bearer ")
            .unwrap()
            .to_owned()
    }
}

/// A plain HTTP client that neither follows redirects nor keeps cookies.
fn raw() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_signs_in_sees_its_own_sections_and_is_refused_the_rest() {
    let demo = demo();
    let url = demo.server.url.clone();
    // Not signed in: every page leads to the sign-in form, and back after.
    let anonymous = raw()
        .get(format!("{url}/console/deals"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 303);
    assert_eq!(
        anonymous.headers()["location"],
        "/console/sign-in?next=%2Fconsole%2Fdeals"
    );
    let b = Browser::start("roles", &url).await;
    b.open("/console/invoices").await;
    assert!(
        b.path().await.starts_with("/console/sign-in"),
        "{}",
        b.path().await
    );
    // A wrong token is refused, in Russian, and nothing is signed in.
    b.fill("#token", "rbt_not-a-token").await;
    b.click("#sign-in-form button[type=submit]").await;
    assert!(
        b.text(".flash.error").await.contains("Такого токена нет"),
        "{}",
        b.page_text().await
    );
    b.fill("#token", &demo.token("H_MANAGER")).await;
    b.click("#sign-in-form button[type=submit]").await;
    b.wait_for("#invoice-list").await;
    assert_eq!(
        b.path().await,
        "/console/invoices",
        "back where it was going"
    );
    let header = b.text("header.top").await;
    assert!(
        header.contains("менеджер") && header.contains("Сделки"),
        "{header}"
    );
    assert!(
        !header.contains("Запуски") && !header.contains("Процессы"),
        "{header}"
    );
    // An admin's page is refused by the API's rule, not just left out:
    // said in Russian by role, the API's words beneath.
    b.open("/console/processes").await;
    assert_eq!(
        b.text("#error-detail").await,
        "Это могут только: администратор. Ваша роль: менеджер."
    );
    assert!(
        b.text("#error-rule")
            .await
            .contains("only an admin may read the processes")
    );
    // A request the manager cannot see is not found, not forbidden.
    b.open("/console/payment-requests").await;
    let mine = b.text("#request-list").await;
    assert!(mine.contains("Аренда склада"), "{mine}");

    // Signing out ends the session on the server: the old cookie is dead.
    let cookie = b.session_cookie().await;
    b.click("#sign-out").await;
    b.wait_for("#sign-in-form").await;
    let stale = raw()
        .get(format!("{url}/console/deals"))
        .header("cookie", format!("robota_session={cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 303, "a signed-out session opens nothing");

    // The accountant: invoices first, the registry, no deals board.
    b.sign_in(&demo.token("H_ACCOUNTANT")).await;
    b.wait_for("#invoice-list").await;
    let header = b.text("header.top").await;
    assert!(
        header.contains("бухгалтер") && header.contains("Реестр платежей"),
        "{header}"
    );
    assert!(!header.contains("Сделки"), "{header}");
    b.open("/console/deals/demo-deal-pumps").await;
    assert!(
        b.text("h1").await.contains("Не найдено"),
        "{}",
        b.page_text().await
    );
    b.click("#sign-out").await;

    // The admin sees the machinery; English is one click away.
    b.sign_in(&demo.token("admin")).await;
    b.open("/console/runs").await;
    b.wait_for("#run-list").await;
    b.open("/console/plugins").await;
    assert!(b.text("#plugin-list").await.contains("send-email@1"));
    b.click("header .lang").await;
    b.wait_text("header.top", "Deals", false).await;
    b.wait_text("h1", "Actions", false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_without_the_sessions_csrf_token_or_from_another_site_is_refused() {
    let demo = demo();
    let url = demo.server.url.clone();
    let b = Browser::start("csrf", &url).await;
    b.sign_in(&demo.token("H_MANAGER")).await;
    let cookie = format!("robota_session={}", b.session_cookie().await);
    let csrf = b
        .wait_for("body")
        .await
        .attr("data-csrf")
        .await
        .unwrap()
        .unwrap();
    let post = |form: Vec<(&'static str, String)>, origin: Option<&'static str>| {
        let (url, cookie) = (url.clone(), cookie.clone());
        async move {
            let mut r = raw()
                .post(format!("{url}/console/deals/demo-deal-pumps/move"))
                .header("cookie", cookie)
                .form(&form);
            if let Some(o) = origin {
                r = r.header("origin", o);
            }
            r.send().await.unwrap()
        }
    };
    let stage = || ("stage", "negotiation".to_owned());
    for (form, origin, why) in [
        (vec![stage()], None, "no token"),
        (
            vec![stage(), ("_csrf", "forged".to_owned())],
            None,
            "a forged token",
        ),
        (
            vec![stage(), ("_csrf", csrf.clone())],
            Some("http://evil.example"),
            "another site",
        ),
    ] {
        let answer = post(form, origin).await;
        assert_eq!(answer.status(), 403, "{why}");
        assert!(
            answer.text().await.unwrap().contains("Форма устарела"),
            "{why}"
        );
    }
    // Nothing moved; with the session's token it does.
    b.open("/console/deals/demo-deal-pumps").await;
    assert_eq!(b.text("#deal-stage").await, "Новая");
    let ok = post(vec![stage(), ("_csrf", csrf)], None).await;
    assert_eq!(ok.status(), 303);
    b.open("/console/deals/demo-deal-pumps").await;
    assert_eq!(b.text("#deal-stage").await, "Переговоры");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_move_the_stage_refuses_asks_for_exactly_the_missing_fields_in_place() {
    let demo = demo();
    let b = Browser::start("move", &demo.server.url).await;
    b.sign_in(&demo.token("H_MANAGER")).await;
    b.open("/console/deals").await;
    let column = b.text("#stage-new").await;
    assert!(column.contains("Поставка насосов"), "{column}");
    b.shot("deals-board.png").await;
    // «Договор подписан» needs the contract's number, the act's days and
    // the site's address: the board asks for those three, nothing else.
    b.select(
        "#deal-demo-deal-pumps select[name=stage]",
        "contract_signed",
    )
    .await;
    b.click("#deal-demo-deal-pumps button[type=submit]").await;
    b.wait_for("#move-dialog").await;
    let dialog = b.text("#move-dialog").await;
    for label in ["№ договора", "Срок подписания акта, дней", "Адрес объекта"]
    {
        assert!(dialog.contains(label), "{label}: {dialog}");
    }
    assert!(!dialog.contains("Компания"), "{dialog}");
    assert_eq!(b.path().await, "/console/deals", "in place, not a new page");
    b.shot("deals-missing-fields.png").await;
    b.fill("[data-field='custom_fields.contract_number']", "Д-77/2026")
        .await;
    b.fill(
        "[data-field='custom_fields.site_address']",
        "Москва, ул. Лесная, 5",
    )
    .await;
    // A value that does not fit (days are whole) is refused in place with
    // the field's label and why, in Russian from the API's code; the deal
    // has not moved.
    b.fill("[data-field='custom_fields.act_signing_days']", "2.5")
        .await;
    b.click("#move-save").await;
    let refused = b
        .wait_text("#move-detail", "2.5 — не целое число", false)
        .await;
    assert!(
        refused.starts_with("Срок подписания акта, дней:"),
        "{refused}"
    );
    assert_eq!(
        Some(
            b.value("[data-field='custom_fields.contract_number']")
                .await
                .as_str()
        ),
        Some("Д-77/2026"),
        "what was typed stays in the dialog"
    );
    assert!(b.text("#stage-new").await.contains("Поставка насосов"));
    b.fill("[data-field='custom_fields.act_signing_days']", "5")
        .await;
    b.click("#move-save").await;
    b.wait_text(".flash", "Сделка перенесена", false).await;
    let moved = b.text("#stage-contract_signed").await;
    assert!(moved.contains("Поставка насосов"), "{moved}");
    assert!(!b.text("#stage-new").await.contains("Поставка насосов"));
    // The card shows what was filled in.
    b.open("/console/deals/demo-deal-pumps").await;
    assert_eq!(b.text("#deal-stage").await, "Договор подписан");
    assert_eq!(
        b.text("[data-field='custom_fields.contract_number']").await,
        "Д-77/2026"
    );
    // Dragged onto a column (the drop sends the same move): a stage with
    // nothing required takes it at once.
    b.open("/console/deals").await;
    b.client
        .execute(
            r#"const card = document.getElementById("deal-demo-deal-service");
               const column = document.getElementById("stage-negotiation");
               const data = new DataTransfer();
               card.dispatchEvent(new DragEvent("dragstart", { bubbles: true, dataTransfer: data }));
               column.dispatchEvent(new DragEvent("dragover", { bubbles: true, cancelable: true, dataTransfer: data }));
               column.dispatchEvent(new DragEvent("drop", { bubbles: true, cancelable: true, dataTransfer: data }));"#,
            vec![],
        )
        .await
        .unwrap();
    let dropped = b
        .wait_text("#stage-negotiation", "Сервисное обслуживание", false)
        .await;
    assert!(dropped.contains("500,00"), "{dropped}");
    // Back a stage from the card: no fields asked, the card says so.
    b.open("/console/deals/demo-deal-pumps").await;
    b.select(".move select[name=stage]", "new").await;
    b.click(".move button[type=submit]").await;
    b.wait_text(".flash", "Сделка перенесена", false).await;
    assert_eq!(b.text("#deal-stage").await, "Новая");
}

/// Uploads the statement in `file` from the invoices page.
async fn upload_statement(b: &Browser, file: &std::path::Path) {
    b.wait_for("#statement-file")
        .await
        .send_keys(file.to_str().unwrap())
        .await
        .unwrap();
    b.click("#statement-form button[type=submit]").await;
}

/// A 1CClientBankExchange statement with one incoming payment.
fn statement(day: &str, amount: &str, payer_inn: &str, number: &str) -> String {
    format!(
        "1CClientBankExchange\r\nВерсияФормата=1.03\r\nКодировка=Windows\r\n\
         СекцияДокумент=Платежное поручение\r\nНомер=15\r\nДата={day}\r\nСумма={amount}\r\n\
         ПлательщикИНН={payer_inn}\r\nПолучательСчет=40702810500000001234\r\n\
         НазначениеПлатежа=Оплата по счету № {number}\r\nКонецДокумента\r\nКонецФайла\r\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_invoice_process_finishes_its_pdf_opens_and_a_statement_pays_it() {
    let demo = demo();
    let url = demo.server.url.clone();
    let b = Browser::start("invoice", &url).await;
    b.sign_in(&demo.token("H_MANAGER")).await;
    b.open("/console/deals").await;
    b.select("#deal-demo-deal-pumps select[name=stage]", "invoice")
        .await;
    b.click("#deal-demo-deal-pumps button[type=submit]").await;
    b.wait_text(".flash", "Сделка перенесена", false).await;
    // The process makes the invoice and its PDF; the card shows it when done.
    b.open("/console/deals/demo-deal-pumps").await;
    let listed = b.wait_text("#deal-invoices", "№", true).await;
    assert!(listed.contains("480"), "{listed}");
    b.click("#deal-invoices a").await;
    b.wait_for("#invoice-pdf").await;
    let number = b
        .text("h1")
        .await
        .split('№')
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    assert!(b.text("#invoice-total").await.contains("480"));
    b.shot("invoice.png").await;
    // The frame's PDF is the invoice's, for this session only.
    let src = b
        .wait_for("#invoice-pdf")
        .await
        .attr("src")
        .await
        .unwrap()
        .unwrap();
    let cookie = format!("robota_session={}", b.session_cookie().await);
    let pdf = raw()
        .get(format!("{url}{src}"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(pdf.status(), 200);
    assert_eq!(pdf.headers()["content-type"], "application/pdf");
    assert!(pdf.bytes().await.unwrap().starts_with(b"%PDF"));
    assert_eq!(
        raw()
            .get(format!("{url}{src}"))
            .send()
            .await
            .unwrap()
            .status(),
        303,
        "no session, no PDF"
    );
    let issued = b.text("dl").await;
    let day = issued
        .split_whitespace()
        .find(|w| w.len() == 10 && w.matches('.').count() == 2)
        .unwrap()
        .to_owned();

    // Accounting uploads the bank's statement and sees it matched.
    b.click("#sign-out").await;
    b.sign_in(&demo.token("H_ACCOUNTANT")).await;
    b.open("/console/invoices").await;
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        file.path(),
        statement(&day, "480000.00", "7707083893", &number),
    )
    .unwrap();
    upload_statement(&b, file.path()).await;
    let matched = b.wait_text("#matched", &number, false).await;
    assert!(matched.contains("480"), "{matched}");
    assert_eq!(
        b.path().await,
        "/console/invoices",
        "the report came in place"
    );
    b.open("/console/invoices?status=paid").await;
    assert!(b.text("#invoice-list").await.contains(&number));
    // A file that is not a statement is refused, in Russian, naming the line.
    let junk = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(junk.path(), "Это не выписка\n").unwrap();
    b.open("/console/invoices").await;
    upload_statement(&b, junk.path()).await;
    let refused = b
        .wait_text("#statement-report", "Файл не принят", false)
        .await;
    assert!(refused.contains("line 1"), "{refused}");
    // The same statement again: its payment now pays an invoice paid
    // already, and the report says so in Russian.
    b.open("/console/invoices").await;
    upload_statement(&b, file.path()).await;
    let unmatched = b.wait_text("#unmatched", "уже оплачен", false).await;
    assert!(
        unmatched.contains(&format!("счёт {number} уже оплачен")),
        "{unmatched}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approved_request_reaches_the_accountants_registry_and_never_before() {
    let demo = demo();
    let b = Browser::start("approval", &demo.server.url).await;
    // A manager's new request: the INN is enough, the rest fills itself
    // from what the contractor was paid with before.
    b.sign_in(&demo.token("H_MANAGER")).await;
    b.open("/console/payment-requests").await;
    b.fill("#pr-inn", "5001007329").await;
    b.click("#pr-purpose").await;
    b.wait_text("#prefilled", "demo-pr-rent", false).await;
    b.fill("#pr-purpose", "Аренда склада, февраль").await;
    assert_eq!(
        Some(b.value("#pr-contractor").await.as_str()),
        Some("ООО «Вектор»")
    );
    assert_eq!(b.value("#pr-bik").await, "044525225");
    // Sent without an amount: refused whole, naming what is missing, and
    // nothing is created; what was typed stays.
    b.click("#send-for-approval").await;
    let error = b.wait_text("#form-error", "Сумма", false).await;
    assert!(error.contains("Оплатить до"), "{error}");
    assert_eq!(
        Some(b.value("#pr-purpose").await.as_str()),
        Some("Аренда склада, февраль")
    );
    b.fill("#pr-amount", "150000.00").await;
    // Saved as a draft instead, then completed on its card and sent.
    b.click("#request-form button[name=save]").await;
    b.wait_text("#request-status", "черновик", false).await;
    b.set_value("#d-pay_by", "2026-12-20").await;
    b.click("#draft-send").await;
    b.wait_text("#request-status", "на согласовании", false)
        .await;
    b.click("#sign-out").await;
    // On approval: not in accounting's registry, not even by its address.
    b.sign_in(&demo.token("H_ACCOUNTANT")).await;
    b.open("/console/registry?period=month").await;
    b.wait_for("#registry").await;
    assert!(!b.has("[data-request='demo-pr-rent']").await);
    b.open("/console/payment-requests/demo-pr-rent").await;
    assert!(b.text("h1").await.contains("Не найдено"));
    b.click("#sign-out").await;
    // The head of sales approves it from the inbox, with a comment.
    b.sign_in(&demo.token("H_HEAD")).await;
    b.open("/console/approvals").await;
    let inbox = b.text("#approvals").await;
    assert!(
        inbox.contains("Аренда склада, январь") && inbox.contains("Аренда склада, февраль"),
        "the seeded request and the manager's new one: {inbox}"
    );
    b.shot("approvals.png").await;
    let rent = ".approval[data-entity='demo-pr-rent']";
    b.fill(&format!("{rent} input[name=comment]"), "Согласовано")
        .await;
    b.click(&format!("{rent} button.approve")).await;
    b.wait_text(".flash", "Согласовано", false).await;
    assert!(!b.has(rent).await);
    assert!(b.text("#approvals").await.contains("февраль"));
    b.click("#sign-out").await;
    // Now accounting has it, under its day, with the day's total.
    b.sign_in(&demo.token("H_ACCOUNTANT")).await;
    b.open("/console/registry?period=month").await;
    let row = b
        .wait_text("[data-request='demo-pr-rent']", "Аренда склада", true)
        .await;
    assert!(row.contains("150"), "{row}");
    assert!(b.text("header.top").await.contains("Уведомления 1") || b.has("#unread .count").await);
    b.shot("registry.png").await;
}

/// A process whose one step creates a task: it fails while the action
/// lacks the `crm.write` grant, and succeeds once the admin grants it.
const FLAKY: &str = r#"
id = "flaky-task"
title = "A task that needs a second try"
[trigger]
event = "deal.created"
[[step]]
id = "task"
uses = "chaos@0"
retry = { attempts = 1 }
input = { do = "create", kind = "task", fields = { title = "Позвонить: {{ deal.title }}" } }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_opens_a_failed_run_retries_it_and_sees_a_broken_process_on_its_line() {
    let site = common::server::Site::new(&[("flaky.toml", FLAKY)]);
    let grants = site.dir.path().join("plugins/plugins.toml");
    let full = std::fs::read_to_string(&grants).unwrap();
    let chaos = r#"grants = ["crm.read", "crm.write", "mail.send"]"#;
    assert!(full.contains(chaos));
    std::fs::write(&grants, full.replace(chaos, r#"grants = ["crm.read"]"#)).unwrap();
    let server = site.start(&[]);
    let admin = common::server::Api::new(&server.url, server.token.as_deref());
    let deal = admin
        .post("/api/v1/deals", &serde_json::json!({ "title": "Ромашка" }))
        .await;
    assert_eq!(deal.status, 201, "{}", deal.body);
    let b = Browser::start("runs", &server.url).await;
    b.sign_in(server.token.as_deref().unwrap()).await;
    // The failed run, found by the status filter, opened from the list.
    b.open("/console/runs").await;
    b.select("select[name=status]", "failed").await;
    b.click(".filters button[type=submit]").await;
    let row = b.wait_text("#run-list", "flaky-task", true).await;
    assert!(row.contains("с ошибкой"), "{row}");
    b.click("#run-list a").await;
    b.wait_for("#steps").await;
    assert_eq!(b.text("#run-status").await, "с ошибкой");
    let step = b.text("[data-step='task']").await;
    assert!(step.contains("Попыток: 1"), "{step}");
    b.shot("run-failed.png").await;
    assert!(step.contains("crm.write"), "the grant it lacks: {step}");
    assert_eq!(
        b.text("[data-step='task'] .error-kind").await,
        "нет прав",
        "the kind of failure, in Russian"
    );
    // The admin grants it (the server reloads its folder) and retries:
    // the step runs again and the run finishes.
    std::fs::write(&grants, &full).unwrap();
    let reloaded = admin
        .post("/api/v1/plugins/reload", &serde_json::json!({}))
        .await;
    assert_eq!(reloaded.status, 200, "{}", reloaded.body);
    b.click("#retry").await;
    b.wait_text("#run-status", "завершён", true).await;
    assert_eq!(
        b.client
            .find_all(fantoccini::Locator::Css("[data-step='task']"))
            .await
            .unwrap()
            .len(),
        2,
        "the failed step and its retry"
    );
    assert!(
        b.has("[data-step='task'] code.digest").await,
        "the action's digest is shown"
    );
    // The run list filters by time too: nothing started tomorrow.
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(2))
        .format("%Y-%m-%d")
        .to_string();
    b.open(&format!("/console/runs?from={tomorrow}")).await;
    assert!(!b.text("#run-list").await.contains("flaky-task"));

    // A broken process file: each error stands on its own line.
    b.open("/console/processes").await;
    b.fill("#upload-id", "broken").await;
    b.fill(
        "#upload-source",
        "id = \"broken\"\ntitle = \"Сломанный\"\n[trigger]\nevent = \"deal.created\"\n[[step]]\nid = \"a\"\nuses = \"no-such-action@1\"\n",
    )
    .await;
    b.click("#upload-submit").await;
    let error_line = b.wait_for("#upload-lines li.has-error").await;
    assert_eq!(
        error_line.attr("data-line").await.unwrap().as_deref(),
        Some("7"),
        "{}",
        b.text("#upload-lines").await
    );
    assert!(
        b.text("#upload-lines li.has-error")
            .await
            .contains("no-such-action"),
        "{}",
        b.text("#upload-lines").await
    );
    b.shot("process-error.png").await;
    // What was typed is kept for the fix; fixed, it installs.
    b.fill(
        "#upload-source",
        "id = \"broken\"\ntitle = \"Починенный\"\n[trigger]\nevent = \"deal.created\"\n[[step]]\nid = \"a\"\nuses = \"add-note@1\"\ninput = { entity = { kind = \"deal\", id = \"{{ deal.id }}\" }, text = \"ok\" }\n",
    )
    .await;
    b.click("#upload-submit").await;
    b.wait_text(".flash", "Установлен процесс broken", false)
        .await;
    assert!(b.page_text().await.contains("Починенный"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leads_convert_through_the_duplicate_dialog_and_a_company_card_shows_its_checks() {
    let demo = demo();
    let b = Browser::start("leads", &demo.server.url).await;
    b.sign_in(&demo.token("H_MANAGER")).await;
    b.open("/console/leads").await;
    let list = b.text("#lead-list").await;
    assert!(
        list.contains("Пекарня на Лесной") && list.contains("Согласие получено"),
        "{list}"
    );
    // A status that needs fields asks for them on the card.
    b.open("/console/leads/demo-lead-bakery").await;
    b.select("#lead-move select[name=status]", "qualification")
        .await;
    b.click("#lead-move button[type=submit]").await;
    b.wait_for("[data-field='city']").await;
    let detail = b.text("#lead-detail").await;
    assert!(
        detail.contains("Не заполнены обязательные поля") && detail.contains("Город"),
        "in Russian, by label: {detail}"
    );
    b.fill("[data-field='email']", "petr@bakery.example").await;
    b.fill("[data-field='city']", "Москва").await;
    b.fill("[data-field='topic']", "Оборудование цеха").await;
    b.click("#lead-save").await;
    b.wait_text(".flash", "Статус лида изменён", false).await;
    assert_eq!(b.text("#lead-status").await, "Квалификация");
    // The planted duplicate: the dialog names who it looks like and why.
    b.open("/console/leads/demo-lead-romashka").await;
    b.click("#convert-submit").await;
    let dialog = b.wait_text("#duplicates", "Кузнецов Сергей", false).await;
    assert!(
        dialog.contains("email") && dialog.contains("phone"),
        "{dialog}"
    );
    b.shot("lead-duplicates.png").await;
    b.click("#use-existing").await;
    b.wait_text(".flash", "Лид сконвертирован", false).await;
    assert!(
        b.path().await.starts_with("/console/deals/"),
        "{}",
        b.path().await
    );
    let deal = b.page_text().await;
    assert!(
        deal.contains("Кузнецов Сергей"),
        "the existing contact: {deal}"
    );

    // A company card: a wrong INN is refused at its field, nothing saved.
    b.open("/console/companies/demo-company-romashka").await;
    b.fill("#c-inn", "7707083894").await;
    b.click("#save-requisites").await;
    let error = b.wait_for("#error-inn").await.text().await.unwrap();
    assert_eq!(
        error.trim(),
        "контрольная цифра не сходится",
        "the reason, in Russian"
    );
    assert_eq!(
        Some(b.value("#c-inn").await.as_str()),
        Some("7707083894"),
        "what was typed stays"
    );
    b.open("/console/companies/demo-company-romashka").await;
    assert_eq!(b.value("#c-inn").await, "7707083893");
    b.fill("#c-director", "Иванов Иван Иванович").await;
    b.click("#save-requisites").await;
    b.wait_text(".flash", "Реквизиты сохранены", false).await;
    // A manager may not start the registry lookup by hand: no button.
    assert!(!b.has("#lookup").await);

    // Reports: the chart is drawn on the server, one bar a week.
    b.open("/console/reports").await;
    let bars = b
        .client
        .find_all(fantoccini::Locator::Css("#debt-chart rect"))
        .await
        .unwrap();
    assert_eq!(bars.len(), 8);
    assert!(b.text("#invoice-report").await.contains("Выставлено"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fill_by_inn_runs_the_registry_lookup_and_the_card_shows_its_outcome() {
    let registry = common::standin::StandIn::registry("console-key");
    let demo = demo_with(&[
        ("ROBOTA_REGISTRY_URL", registry.url.as_str()),
        ("ROBOTA_REGISTRY_KEY", "console-key"),
    ]);
    let b = Browser::start("lookup", &demo.server.url).await;
    b.sign_in(&demo.token("H_HEAD")).await;
    b.open("/console/companies/demo-company-romashka").await;
    assert_eq!(b.value("#c-ogrn").await, "");
    b.click("#lookup").await;
    b.wait_text(".flash", "Запрос в реестр отправлен", false)
        .await;
    // The card follows the run by itself (htmx polls it) until it ends.
    let outcome = b.wait_text("#lookup-outcome", "завершён", false).await;
    assert!(!outcome.contains("ошибк"), "{outcome}");
    assert_eq!(
        Some(b.value("#c-ogrn").await.as_str()),
        Some("1027700132195"),
        "filled from the registry"
    );
    assert!(b.text("#company-timeline").await.contains("1027700132195"));
}
