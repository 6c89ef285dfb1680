//! The mail dispatcher: delivers the outbox through SMTP (lettre), with
//! retries on an exponential schedule and the row's stable Message-ID, so a
//! receiver can drop the duplicate if a delivery is retried after the server
//! accepted it but before the row was marked sent.

use crate::crm::changes::OutgoingMail;
use crate::engine::Clock;
use crate::store::Database;
use crate::store::prelude::*;
use anyhow::Context as _;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// Plain text (a local relay).
    None,
    /// STARTTLS on a plain port (587).
    StartTls,
    /// TLS from the first byte (465).
    Tls,
}

impl std::str::FromStr for Security {
    type Err = String;
    fn from_str(s: &str) -> Result<Security, String> {
        match s {
            "none" => Ok(Security::None),
            "starttls" => Ok(Security::StartTls),
            "tls" => Ok(Security::Tls),
            other => Err(format!(
                "SMTP security `{other}`: use none, starttls or tls"
            )),
        }
    }
}

/// Where and as whom mail goes out.
#[derive(Debug, Clone)]
pub struct SmtpSettings {
    /// The server.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// How the connection is secured.
    pub security: Security,
    /// The login, if the server wants one.
    pub username: Option<String>,
    /// The password.
    pub password: Option<String>,
    /// The From address.
    pub from: String,
    /// Delivery attempts before a message is marked failed.
    pub max_attempts: u32,
}

/// Delivers the outbox.
pub struct Dispatcher {
    store: Arc<Database>,
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    clock: Arc<dyn Clock>,
    max_attempts: u32,
}

impl Dispatcher {
    /// A dispatcher for `settings`.
    pub fn new(
        store: Arc<Database>,
        settings: &SmtpSettings,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Dispatcher> {
        let builder = match settings.security {
            Security::None => {
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&settings.host)
            }
            Security::StartTls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&settings.host)
                    .context("setting up STARTTLS")?
            }
            Security::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&settings.host)
                .context("setting up TLS")?,
        };
        let mut builder = builder
            .port(settings.port)
            .timeout(Some(Duration::from_secs(30)));
        if let Some(user) = &settings.username {
            builder = builder.credentials(Credentials::new(
                user.clone(),
                settings.password.clone().unwrap_or_default(),
            ));
        }
        Ok(Dispatcher {
            store,
            transport: builder.build(),
            from: settings
                .from
                .parse()
                .with_context(|| format!("the From address `{}`", settings.from))?,
            clock,
            max_attempts: settings.max_attempts.max(1),
        })
    }

    /// Delivers every due message once; returns how many were sent.
    pub async fn deliver_due(&self) -> anyhow::Result<usize> {
        let mut sent = 0;
        // Claimed for a while: another sender (another node on PostgreSQL)
        // skips them, and if this one dies they are due again after it.
        let now = self.clock.now();
        let claimed = self
            .store
            .claim_due_mail(now, now + chrono::Duration::minutes(10), 50)
            .await?;
        for queued in claimed {
            let result = match self.message(&queued.mail) {
                Ok(m) => self.transport.send(m).await.map_err(|e| e.to_string()),
                Err(e) => Err(e),
            };
            match result {
                Ok(_) => {
                    self.store
                        .mail_sent(&queued.mail.id, self.clock.now())
                        .await?;
                    sent += 1;
                }
                Err(e) => {
                    let attempt = u32::try_from(queued.attempts + 1).unwrap_or(u32::MAX);
                    let retry_at = (attempt < self.max_attempts).then(|| {
                        // 30 s, 1 min, 2 min, … capped at an hour.
                        let secs = (30u64 << attempt.min(7)).min(3600);
                        self.clock.now()
                            + chrono::Duration::seconds(i64::try_from(secs).unwrap_or(3600))
                    });
                    tracing::warn!(mail = %queued.mail.id, attempt, "delivery failed: {e}");
                    self.store
                        .mail_attempt_failed(&queued.mail.id, &e, retry_at)
                        .await?;
                }
            }
        }
        Ok(sent)
    }

    /// The message as it goes on the wire.
    fn message(&self, mail: &OutgoingMail) -> Result<Message, String> {
        let mut b = Message::builder()
            .from(self.from.clone())
            .subject(mail.subject.clone())
            .message_id(Some(mail.message_id.clone()));
        for to in &mail.to {
            b = b.to(to.parse().map_err(|e| format!("recipient `{to}`: {e}"))?);
        }
        for cc in &mail.cc {
            b = b.cc(cc.parse().map_err(|e| format!("cc `{cc}`: {e}"))?);
        }
        let body = match &mail.html_body {
            Some(html) => MultiPart::alternative_plain_html(mail.text_body.clone(), html.clone()),
            None => MultiPart::mixed().singlepart(SinglePart::plain(mail.text_body.clone())),
        };
        let body = if mail.attachments.is_empty() {
            body
        } else {
            let mut mixed = MultiPart::mixed().multipart(body);
            for a in &mail.attachments {
                let ct = ContentType::parse(&a.content_type)
                    .map_err(|e| format!("attachment `{}`: {e}", a.filename))?;
                mixed = mixed
                    .singlepart(Attachment::new(a.filename.clone()).body(a.content.clone(), ct));
            }
            mixed
        };
        b.multipart(body).map_err(|e| e.to_string())
    }
}

/// Delivers the outbox every `poll` until `shutdown` turns true.
pub async fn run(dispatcher: Dispatcher, poll: Duration, mut shutdown: watch::Receiver<bool>) {
    while !*shutdown.borrow() {
        match dispatcher.deliver_due().await {
            Ok(n) if n > 0 => continue,
            Ok(_) => {}
            Err(e) => tracing::warn!("mail dispatch failed: {e:#}"),
        }
        tokio::select! {
            _ = tokio::time::sleep(poll) => {}
            _ = shutdown.changed() => {}
        }
    }
}
