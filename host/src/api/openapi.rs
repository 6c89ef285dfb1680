//! The OpenAPI 3.1 document at `/api/v1/openapi.json`.

use axum::Json;
use serde_json::{Map, Value, json};

const COLLECTIONS: [&str; 9] = [
    "leads",
    "contacts",
    "companies",
    "deals",
    "products",
    "invoices",
    "payment-requests",
    "tasks",
    "users",
];

fn op(summary: &str, ok: &str) -> Value {
    json!({
        "summary": summary,
        "responses": {
            ok: { "description": "success" },
            "default": {
                "description": "an RFC 9457 problem",
                "content": { "application/problem+json": { "schema": { "$ref": "#/components/schemas/Problem" } } }
            }
        }
    })
}

/// The document.
pub async fn document() -> Json<Value> {
    let mut paths = Map::new();
    for c in COLLECTIONS {
        paths.insert(
            format!("/api/v1/{c}"),
            json!({
                "get": op(&format!("List {c}; filters as field=value or field.op=value, limit, cursor"), "200"),
                "post": op(&format!("Create one of {c}"), "201"),
            }),
        );
        paths.insert(
            format!("/api/v1/{c}/{{id}}/timeline"),
            json!({ "get": op(&format!("What happened to one of {c}, oldest first; limit, cursor"), "200") }),
        );
        paths.insert(
            format!("/api/v1/{c}/{{id}}/access"),
            json!({ "get": op(&format!("The users one of {c} is shared with"), "200") }),
        );
        paths.insert(
            format!("/api/v1/{c}/{{id}}/access/{{user_id}}"),
            json!({
                "put": op(&format!("Share one of {c} with a user (its responsible, the head of sales or an admin)"), "201"),
                "delete": op(&format!("Stop sharing one of {c} with a user"), "204"),
            }),
        );
        paths.insert(
            format!("/api/v1/{c}/{{id}}/files"),
            json!({ "get": op(&format!("Files stored with one of {c}"), "200") }),
        );
        paths.insert(
            format!("/api/v1/{c}/{{id}}/files/{{name}}"),
            json!({
                "get": op("Download a stored file", "200"),
                "put": op("Store a file (the body, with its Content-Type), replacing one of the name", "201"),
            }),
        );
        paths.insert(
            format!("/api/v1/{c}/{{id}}"),
            json!({
                "get": op(&format!("Read one of {c}"), "200"),
                "patch": op(&format!("Change fields of one of {c}; `version` checks optimistically"), "200"),
                "delete": op(&format!("Delete one of {c}"), "204"),
            }),
        );
    }
    let fixed = [
        ("/api/v1/processes", "get", "List processes", "200"),
        (
            "/api/v1/processes/{id}",
            "get",
            "Read a process with its source",
            "200",
        ),
        (
            "/api/v1/processes/{id}",
            "put",
            "Upload a process file (TOML); validated",
            "201",
        ),
        (
            "/api/v1/processes/{id}/enable",
            "post",
            "Enable a process",
            "200",
        ),
        (
            "/api/v1/processes/{id}/disable",
            "post",
            "Disable a process",
            "200",
        ),
        (
            "/api/v1/processes/{id}/start",
            "post",
            "Start a manual process with params",
            "202",
        ),
        (
            "/api/v1/hooks/{id}",
            "post",
            "Start a webhook process (X-Robota-Secret)",
            "202",
        ),
        (
            "/api/v1/runs",
            "get",
            "List runs; process, status, entity_kind, entity_id, cursor, limit",
            "200",
        ),
        (
            "/api/v1/runs/{id}",
            "get",
            "A run with every step's attempts",
            "200",
        ),
        (
            "/api/v1/runs/{id}/retry",
            "post",
            "Retry a failed run",
            "200",
        ),
        (
            "/api/v1/runs/{id}/cancel",
            "post",
            "Cancel a running run",
            "200",
        ),
        (
            "/api/v1/approvals",
            "get",
            "My approval tasks (status=pending by default)",
            "200",
        ),
        ("/api/v1/approvals/{id}", "get", "One approval", "200"),
        (
            "/api/v1/approvals/{id}/approve",
            "post",
            "Approve, with an optional comment",
            "200",
        ),
        (
            "/api/v1/approvals/{id}/reject",
            "post",
            "Reject, with a comment",
            "200",
        ),
        (
            "/api/v1/outbox",
            "get",
            "The mail outbox (status=pending|sent|failed)",
            "200",
        ),
        (
            "/api/v1/outbox/{id}",
            "get",
            "One message: recipients, subject, text and HTML, attachments, delivery state",
            "200",
        ),
        (
            "/api/v1/outbox/{id}/attachments/{name}",
            "get",
            "One attachment of an outbox message",
            "200",
        ),
        (
            "/api/v1/invoices/{id}/pdf",
            "get",
            "The invoice's PDF (application/pdf)",
            "200",
        ),
        (
            "/api/v1/bank-statements",
            "post",
            "Import a 1C client-bank statement (the file as the body); marks paid invoices; reports unmatched payments",
            "200",
        ),
        (
            "/api/v1/reports/invoices",
            "get",
            "Invoices issued from..to: count and sum per currency, share paid, average days to payment",
            "200",
        ),
        (
            "/api/v1/reports/debt",
            "get",
            "Overdue debt as_of: total per currency, top debtors, debt by week",
            "200",
        ),
        (
            "/api/v1/custom-fields/{kind}",
            "get",
            "The custom fields defined for an entity kind",
            "200",
        ),
        (
            "/api/v1/custom-fields/{kind}",
            "put",
            "Replace a kind's custom fields (admin): name, label, type, options, required_at",
            "200",
        ),
        (
            "/api/v1/lead-statuses",
            "get",
            "The lead statuses and the fields each requires",
            "200",
        ),
        (
            "/api/v1/lead-statuses/{code}",
            "put",
            "Set the fields a lead must have to enter a status (admin)",
            "200",
        ),
        (
            "/api/v1/pipelines",
            "get",
            "Pipelines with their stages",
            "200",
        ),
        (
            "/api/v1/pipelines/{id}/stages/{code}",
            "put",
            "Add or change a stage (admin): name, sort, semantic, required_fields",
            "200",
        ),
        (
            "/api/v1/deals/{id}/items",
            "post",
            "Add a line to a deal (from a product when product_id is given)",
            "201",
        ),
        (
            "/api/v1/deals/{id}/items/{line}",
            "patch",
            "Change line `line` (1-based) of a deal",
            "200",
        ),
        (
            "/api/v1/deals/{id}/items/{line}",
            "delete",
            "Remove line `line` of a deal",
            "200",
        ),
        (
            "/api/v1/leads/{id}/convert",
            "post",
            "Convert a lead into contact + company + deal (into: company) or contact + deal (into: person); 409 lists duplicates",
            "201",
        ),
        (
            "/api/v1/contacts/{id}/merge",
            "post",
            "Merge another contact into this one: fields chosen, lists united, every link re-pointed",
            "200",
        ),
        (
            "/api/v1/companies/{id}/merge",
            "post",
            "Merge another company into this one: fields chosen, lists united, every link re-pointed",
            "200",
        ),
        (
            "/api/v1/duplicates",
            "get",
            "Groups of stored duplicates; kind=contact|company",
            "200",
        ),
        (
            "/api/v1/contacts/import",
            "post",
            "Import contacts from CSV; on_duplicate=refuse|skip|merge|create, partial=true",
            "200",
        ),
        (
            "/api/v1/companies/import",
            "post",
            "Import companies from CSV; on_duplicate=refuse|skip|merge|create, partial=true",
            "200",
        ),
        (
            "/api/v1/deals/{id}/invoice",
            "post",
            "Issue an invoice from the deal and render its PDF (force: a second open one)",
            "201",
        ),
        (
            "/api/v1/invoices/{id}/html",
            "get",
            "The invoice as a printable page",
            "200",
        ),
        (
            "/api/v1/invoices/{id}/share",
            "post",
            "A link that opens the invoice's PDF without a token (days, default 30)",
            "201",
        ),
        (
            "/api/v1/invoices/{id}/shares",
            "get",
            "The invoice's share links",
            "200",
        ),
        (
            "/api/v1/invoices/{id}/shares/{share_id}",
            "delete",
            "Revoke a share link",
            "204",
        ),
        (
            "/share/{token}",
            "get",
            "A shared invoice's PDF; needs no token",
            "200",
        ),
        (
            "/api/v1/exports/invoices",
            "get",
            "Invoices issued from..to as CommerceML 2 for 1C (format=commerceml, status)",
            "200",
        ),
        (
            "/api/v1/payment-requests/prefill",
            "get",
            "What a new request for a contractor is filled with (inn or contractor)",
            "200",
        ),
        (
            "/api/v1/payment-requests/{id}/comments",
            "post",
            "Comment on a payment request (history and timeline)",
            "201",
        ),
        (
            "/api/v1/payment-requests/{id}/return",
            "post",
            "Return an approved request to its author for rework, with the reason",
            "200",
        ),
        (
            "/api/v1/payment-registry",
            "get",
            "Approved and paid requests due in a period (day|week|month around date), by day with totals per currency; the caller's saved view fills what the query leaves out",
            "200",
        ),
        (
            "/api/v1/me",
            "get",
            "Who the token is: role, user, unread notifications",
            "200",
        ),
        (
            "/api/v1/me/preferences",
            "put",
            "{\"notify_by_email\": bool}: notifications also by e-mail",
            "200",
        ),
        (
            "/api/v1/me/notifications",
            "get",
            "The caller's notifications, newest first; unread, limit, cursor",
            "200",
        ),
        (
            "/api/v1/me/notifications/{id}/read",
            "post",
            "Mark one of the caller's notifications read",
            "204",
        ),
        (
            "/api/v1/me/filters/{view}",
            "get",
            "The filter the caller saved for a screen (payment-registry)",
            "200",
        ),
        (
            "/api/v1/me/filters/{view}",
            "put",
            "Save the filter a screen opens with",
            "200",
        ),
        (
            "/api/v1/me/filters/{view}",
            "delete",
            "Drop a saved filter",
            "204",
        ),
        ("/healthz", "get", "Liveness; needs no token", "200"),
    ];
    for (path, method, summary, ok) in fixed {
        let entry = paths
            .entry(path.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(m) = entry {
            m.insert(method.to_owned(), op(summary, ok));
        }
    }
    Json(json!({
        "openapi": "3.1.0",
        "info": { "title": "robota", "version": env!("CARGO_PKG_VERSION") },
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "schemas": {
                "Problem": {
                    "type": "object",
                    "properties": {
                        "type": { "type": "string" }, "title": { "type": "string" },
                        "status": { "type": "integer" }, "detail": { "type": "string" },
                        "field": { "type": "string", "description": "the field whose value is wrong (`kind.field`)" },
                        "code": { "type": "string", "description": "why, as a code a client can say in its own language (`bad-checksum`, `already-decided`, …)" },
                        "params": { "type": "object", "description": "the code's parameters (`{\"value\": \"x\", \"allowed\": [...]}`)" },
                        "missing": { "type": "array", "items": { "type": "string" }, "description": "the fields a stage or status still needs" },
                        "may": { "type": "array", "items": { "type": "string" }, "description": "the roles that may do what was refused" }
                    }
                }
            }
        },
        "security": [{ "bearer": [] }],
        "paths": paths,
    }))
}
