//! The message's subject, text and HTML: minijinja templates with strict
//! undefined variables (a misspelt field fails the step and names it), from
//! the input, the action's config (`templates.<name>.subject|text|html`), or
//! the built-in ones below.

use minijinja::{Environment, UndefinedBehavior, Value as Jinja};
use robota_sdk::{Error, config};

/// The templates of one message.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Templates {
    /// The subject.
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// The HTML body, if any.
    pub html: Option<String>,
}

/// Built-in templates: (name, subject, text).
const BUILT_IN: &[(&str, &str, &str)] = &[
    (
        "invoice",
        "Счёт № {{ invoice.number }} от {{ invoice.issue_date | date }}",
        "Здравствуйте!\n\nНаправляем счёт № {{ invoice.number }} на сумму {{ invoice.total | money(invoice.currency) }}.\n\
         Просим оплатить его до {{ invoice.due_date | date }}. Счёт приложен к письму.\n\n\
         С уважением,\n{{ invoice.seller.name }}",
    ),
    (
        "invoice_reminder",
        "Напоминание об оплате счёта № {{ invoice.number }}",
        "Здравствуйте!\n\nСрок оплаты счёта № {{ invoice.number }} на сумму {{ invoice.total | money(invoice.currency) }} \
         истёк {{ invoice.due_date | date }}. Просим оплатить его или сообщить, если оплата уже отправлена.\n\n\
         С уважением,\n{{ invoice.seller.name }}",
    ),
    (
        "invoice_link",
        "Счёт № {{ invoice.number }} от {{ invoice.issue_date | date }}",
        "Здравствуйте!\n\nСчёт № {{ invoice.number }} на сумму {{ invoice.total | money(invoice.currency) }} \
         можно открыть и скачать по ссылке:\n{{ link }}\n\
         Ссылка действует до {{ link_expires_at | date }}. Просим оплатить счёт до {{ invoice.due_date | date }}.\n\n\
         С уважением,\n{{ invoice.seller.name }}",
    ),
    (
        "payment_sent",
        "Оплата: {{ payment_request.purpose }}",
        "Здравствуйте!\n\nСообщаем, что {{ payment_request.paid_date | date }} мы оплатили \
         {{ payment_request.amount | money(payment_request.currency) }} \
         с назначением платежа «{{ payment_request.payment_purpose_text }}».\n\
         Платёжное поручение приложено к письму.\n\n\
         С уважением",
    ),
    (
        "meeting_reminder",
        "Напоминание о встрече {{ task.starts_at | datetime }}",
        "Здравствуйте!\n\nНапоминаем о встрече {{ task.starts_at | datetime }} (время московское).\n\
         Место: {{ task.place }}.\n\
         {% if manager is defined %}Вас встретит {{ manager.name }}.\n{% endif %}\n\
         До встречи!",
    ),
];

/// The templates called `name`: each part from config if set there, else
/// built in.
pub fn named(name: &str) -> Result<Templates, Error> {
    let built_in = BUILT_IN.iter().find(|(n, _, _)| *n == name);
    let part = |part: &str| config::get(&format!("templates.{name}.{part}"));
    let subject = part("subject")?.or_else(|| built_in.map(|b| b.1.to_owned()));
    let text = part("text")?.or_else(|| built_in.map(|b| b.2.to_owned()));
    match (subject, text) {
        (Some(subject), Some(text)) => Ok(Templates {
            subject,
            text,
            html: part("html")?,
        }),
        _ => Err(Error::InvalidInput(format!(
            "template `{name}` is unknown: set templates.{name}.subject and templates.{name}.text \
             in the action's config, or use a built-in one ({})",
            BUILT_IN.iter().map(|b| b.0).collect::<Vec<_>>().join(", ")
        ))),
    }
}

/// Renders `source` (called `what` in errors) with `ctx`.
pub fn render(what: &str, source: &str, ctx: &serde_json::Value) -> Result<String, Error> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(200_000));
    robota_template_filters::register(&mut env);
    let bad = |e: minijinja::Error| Error::InvalidInput(format!("{what} template: {e:#}"));
    let template = env.template_from_str(source).map_err(bad)?;
    template.render(Jinja::from_serialize(ctx)).map_err(bad)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_fields_and_names_a_missing_one() {
        let ctx = json!({ "invoice": { "number": "2026-00001", "issue_date": "2026-11-22" } });
        assert_eq!(
            render("subject", BUILT_IN[0].1, &ctx).unwrap(),
            "Счёт № 2026-00001 от 22.11.2026"
        );
        let e = render("subject", "{{ invoice.numbr }}", &ctx).unwrap_err();
        assert!(format!("{e:?}").contains("subject template"), "{e:?}");
        let e = render("text", "{% if %}", &ctx).unwrap_err();
        assert!(format!("{e:?}").contains("text template"), "{e:?}");
    }
}
