//! The web console in a real browser (headless Chromium through
//! chromedriver) against `robota demo` and `robota serve`: signing in per
//! role, what each role is shown and refused, CSRF, and the scenarios'
//! work done by clicking. Failures leave a screenshot in
//! `target/console-failures/`.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use common::browser::Browser;
use common::server::Server;
use std::process::Command;

/// `robota demo` in a temp folder: the server and its folder.
struct Demo {
    server: Server,
    _dir: tempfile::TempDir,
}

fn demo() -> Demo {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_robota"));
    cmd.args(["demo", "--dir"])
        .arg(dir.path())
        .args(["--listen", "127.0.0.1:0"]);
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
    // An admin's page is refused by the API's rule, not just left out.
    b.open("/console/processes").await;
    assert!(
        b.text("#error-detail").await.contains("only an admin may"),
        "{}",
        b.page_text().await
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
