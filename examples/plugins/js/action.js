// lead-intake: a robota action written in JavaScript.
//
// Takes a web-form submission, normalises the phone number, and creates a
// lead — unless a lead with the same e-mail already exists, in which case it
// returns that one (a form submitted twice must not make two leads).
// Built into a Wasm component by componentize-js from the same WIT contract:
//     node build.mjs
import { query, create } from 'robota:plugin/crm@0.1.0';
import { log } from 'robota:plugin/log@0.1.0';

const INPUT_SCHEMA = {
  type: 'object',
  required: ['title', 'email'],
  properties: {
    title: { type: 'string' },
    name: { type: 'string' },
    email: { type: 'string' },
    phone: { type: 'string' },
    source: { type: 'string' },
  },
};
const OUTPUT_SCHEMA = {
  type: 'object',
  properties: { lead_id: { type: 'string' }, created: { type: 'boolean' } },
};

/** An `error` of the WIT contract: thrown, it becomes `run`'s err value. */
function fail(tag, message) {
  return { tag, val: message };
}

/** +7XXXXXXXXXX from the usual Russian spellings (8 900 …, +7 (900) …, 900…). */
export function normalisePhone(raw) {
  const digits = String(raw).replace(/\D/g, '');
  if (digits.length === 11 && (digits[0] === '7' || digits[0] === '8')) return `+7${digits.slice(1)}`;
  if (digits.length === 10) return `+7${digits}`;
  throw fail('invalid-input', `phone: "${raw}" is not a Russian phone number`);
}

export function describe() {
  return {
    id: 'lead-intake',
    version: '0.1.0',
    title: 'Lead intake (JavaScript)',
    description: 'Creates a lead from a web form, once per e-mail address',
    inputSchema: JSON.stringify(INPUT_SCHEMA),
    outputSchema: JSON.stringify(OUTPUT_SCHEMA),
    capabilities: [{ tag: 'crm-read' }, { tag: 'crm-write' }],
  };
}

export function run(ctx, input) {
  let form;
  try {
    form = JSON.parse(input);
  } catch (e) {
    throw fail('invalid-input', `input is not JSON: ${e.message}`);
  }
  if (typeof form.title !== 'string' || form.title.trim() === '') throw fail('invalid-input', 'title: required');
  const email = String(form.email ?? '').trim().toLowerCase();
  if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email)) throw fail('invalid-input', `email: "${form.email}" is not an e-mail address`);

  const existing = query({ kind: 'lead', filters: [{ field: 'email', op: 'eq', value: JSON.stringify(email) }], limit: 1 });
  if (existing.length > 0) {
    const lead = JSON.parse(existing[0]);
    log('info', `lead for ${email} already exists: ${lead.id}`);
    return JSON.stringify({ lead_id: lead.id, created: false });
  }
  const fields = { title: form.title.trim(), email };
  if (form.name) fields.name = String(form.name);
  if (form.phone) fields.phone = normalisePhone(form.phone);
  if (form.source) fields.source = String(form.source);
  const ref = create('lead', JSON.stringify(fields));
  log('info', `created lead ${ref.id} in run ${ctx.runId}`);
  return JSON.stringify({ lead_id: ref.id, created: true });
}
