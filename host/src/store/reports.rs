//! The invoice facts reports are computed from. Sums are done in Rust with
//! exact decimals: SQLite's SUM would turn the stored text into floats.

use super::backend::Backend;
use super::db::{Row, Sql};
use crate::access::Access;
use crate::crm::CrmError;
use crate::crm::EntityKind;

/// One invoice, as reports see it.
#[derive(Debug, Clone, PartialEq)]
pub struct InvoiceFacts {
    /// The invoice id.
    pub id: String,
    /// Its number.
    pub number: String,
    /// The buyer company, if any.
    pub buyer_company_id: Option<String>,
    /// The buyer snapshot (JSON text).
    pub buyer: String,
    /// The total with VAT, exact text.
    pub total: String,
    /// The currency.
    pub currency: String,
    /// Issue date, YYYY-MM-DD.
    pub issue_date: String,
    /// Due date, YYYY-MM-DD.
    pub due_date: String,
    /// Status.
    pub status: String,
    /// Paid date, if paid.
    pub paid_date: Option<String>,
}

const COLUMNS: &str =
    "id, number, buyer_company_id, buyer, total, currency, issue_date, due_date, status, paid_date";

fn facts(mut r: Row) -> InvoiceFacts {
    InvoiceFacts {
        id: r.take(0).unwrap_or_default(),
        number: r.take(1).unwrap_or_default(),
        buyer_company_id: r.take(2),
        buyer: r.take(3).unwrap_or_default(),
        total: r.take(4).unwrap_or_default(),
        currency: r.take(5).unwrap_or_default(),
        issue_date: r.take(6).unwrap_or_default(),
        due_date: r.take(7).unwrap_or_default(),
        status: r.take(8).unwrap_or_default(),
        paid_date: r.take(9),
    }
}

/// The invoices reports are made of.
#[async_trait::async_trait]
pub trait Reports: Backend {
    /// Invoices issued from `from` to `to`, both included, that `access`
    /// may see (a manager's report is of their own deals).
    async fn invoices_issued(
        &self,
        access: &Access,
        from: &str,
        to: &str,
    ) -> Result<Vec<InvoiceFacts>, CrmError> {
        let (seen, binds) = access.condition(EntityKind::Invoice);
        let sql = format!(
            "SELECT {COLUMNS} FROM invoices WHERE issue_date >= ? AND issue_date <= ? AND ({seen})
             ORDER BY issue_date, seq"
        );
        let mut params = vec![Sql::from(from), Sql::from(to)];
        params.extend((0..binds).map(|_| Sql::from(access.user_id.as_deref())));
        self.read_with(Box::new(move |db| {
            Ok(db.query(&sql, &params)?.into_iter().map(facts).collect())
        }))
        .await
    }

    /// Invoices that fell due before `before` and were not cancelled: every
    /// invoice that can have been a debt on some day up to then.
    async fn invoices_due_before(
        &self,
        access: &Access,
        before: &str,
    ) -> Result<Vec<InvoiceFacts>, CrmError> {
        let (seen, binds) = access.condition(EntityKind::Invoice);
        let sql = format!(
            "SELECT {COLUMNS} FROM invoices WHERE due_date < ? AND status NOT IN ('cancelled', 'draft')
             AND ({seen}) ORDER BY due_date, seq"
        );
        let mut params = vec![Sql::from(before)];
        params.extend((0..binds).map(|_| Sql::from(access.user_id.as_deref())));
        self.read_with(Box::new(move |db| {
            Ok(db.query(&sql, &params)?.into_iter().map(facts).collect())
        }))
        .await
    }
}

impl<T: Backend> Reports for T {}
