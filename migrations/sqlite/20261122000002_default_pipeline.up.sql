-- A fresh CRM has one default sales pipeline (as Bitrix24 does), so deals can
-- be created before an admin designs their own. Admins may rename or extend it.
INSERT INTO pipelines (id, code, name, is_default, created_at)
VALUES ('pipeline-sales', 'sales', 'Sales', 1, '2026-11-22T00:00:00Z');

INSERT INTO stages (id, pipeline_id, code, name, sort, semantic, required_fields) VALUES
    ('stage-sales-new',          'pipeline-sales', 'new',          'New',          10, 'open', '[]'),
    ('stage-sales-negotiation',  'pipeline-sales', 'negotiation',  'Negotiation',  20, 'open', '[]'),
    ('stage-sales-invoice',      'pipeline-sales', 'invoice',      'Invoice',      30, 'open', '["company_id","amount"]'),
    ('stage-sales-invoice-sent', 'pipeline-sales', 'invoice_sent', 'Invoice sent', 40, 'open', '["company_id","amount"]'),
    ('stage-sales-paid',         'pipeline-sales', 'paid',         'Paid',         50, 'won',  '["company_id","amount"]'),
    ('stage-sales-lost',         'pipeline-sales', 'lost',         'Lost',         60, 'lost', '[]');
