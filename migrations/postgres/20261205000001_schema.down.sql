DROP TABLE console_sessions, saved_filters, record_access, payment_request_history,
    payment_requests, share_links, duplicate_keys, lead_statuses, leads, entity_files,
    api_tokens, schedules, engine_cursors, approvals, step_attempts, run_steps, runs,
    action_sets, process_versions, processes, mail_outbox, events, custom_field_defs,
    timeline, notifications, tasks, invoice_items, invoices, invoice_counters, deal_items,
    deals, products, stages, pipelines, contacts, companies, users;
