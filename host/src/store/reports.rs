//! The invoice facts reports are computed from. Sums are done in Rust with
//! exact decimals: SQLite's SUM would turn the stored text into floats.

use super::sqlite::{SqliteStore, db_err};
use crate::access::Access;
use crate::crm::CrmError;
use crate::crm::EntityKind;
use sqlx::Row;

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

fn facts(r: &sqlx::sqlite::SqliteRow) -> InvoiceFacts {
    InvoiceFacts {
        id: r.get("id"),
        number: r.get("number"),
        buyer_company_id: r.get("buyer_company_id"),
        buyer: r.get("buyer"),
        total: r.get("total"),
        currency: r.get("currency"),
        issue_date: r.get("issue_date"),
        due_date: r.get("due_date"),
        status: r.get("status"),
        paid_date: r.get("paid_date"),
    }
}

impl SqliteStore {
    /// Invoices issued from `from` to `to`, both included, that `access`
    /// may see (a manager's report is of their own deals).
    pub async fn invoices_issued(
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
        let mut query = sqlx::query(&sql).bind(from).bind(to);
        for _ in 0..binds {
            query = query.bind(access.user_id.as_deref());
        }
        let rows = query.fetch_all(self.reader()).await.map_err(db_err)?;
        Ok(rows.iter().map(facts).collect())
    }

    /// Invoices that fell due before `before` and were not cancelled: every
    /// invoice that can have been a debt on some day up to then.
    pub async fn invoices_due_before(
        &self,
        access: &Access,
        before: &str,
    ) -> Result<Vec<InvoiceFacts>, CrmError> {
        let (seen, binds) = access.condition(EntityKind::Invoice);
        let sql = format!(
            "SELECT {COLUMNS} FROM invoices WHERE due_date < ? AND status NOT IN ('cancelled', 'draft')
             AND ({seen}) ORDER BY due_date, seq"
        );
        let mut query = sqlx::query(&sql).bind(before);
        for _ in 0..binds {
            query = query.bind(access.user_id.as_deref());
        }
        let rows = query.fetch_all(self.reader()).await.map_err(db_err)?;
        Ok(rows.iter().map(facts).collect())
    }
}
