"""deal-summary: a robota action written in Python.

Reads a deal from the CRM, writes a one-line summary onto the deal's
timeline, and returns the summary. Built into a Wasm component with
componentize-py from the same WIT contract the Rust SDK uses:

    componentize-py -d ../../../wit -w action componentize app -o deal_summary.wasm
"""

import json
from decimal import Decimal

import wit_world
from wit_world.imports import crm, log, types
from componentize_py_types import Err

INPUT_SCHEMA = {
    "type": "object",
    "required": ["deal_id"],
    "properties": {"deal_id": {"type": "string", "description": "The deal to summarise"}},
}
OUTPUT_SCHEMA = {
    "type": "object",
    "properties": {"summary": {"type": "string"}, "items": {"type": "integer"}},
}


def summarise(deal: dict) -> tuple[str, int]:
    """One human line about a deal, with money summed exactly (Decimal, never float)."""
    items = deal.get("items") or []
    total = sum((Decimal(i["price"]) * Decimal(i["quantity"]) for i in items), Decimal("0"))
    amount = Decimal(deal.get("amount") or total)
    currency = deal.get("currency") or "RUB"
    line = f"{deal.get('title', 'Deal')}: {amount:.2f} {currency}, stage {deal.get('stage')}, {len(items)} line(s)"
    return line, len(items)


class WitWorld(wit_world.WitWorld):
    def describe(self) -> types.Manifest:
        return types.Manifest(
            id="deal-summary",
            version="0.1.0",
            title="Deal summary (Python)",
            description="Writes a one-line summary of a deal onto its timeline",
            input_schema=json.dumps(INPUT_SCHEMA),
            output_schema=json.dumps(OUTPUT_SCHEMA),
            capabilities=[types.Capability_CrmRead(), types.Capability_CrmWrite()],
        )

    def run(self, ctx: types.Context, input: str) -> str:
        try:
            args = json.loads(input)
            deal_id = args["deal_id"]
        except (ValueError, KeyError, TypeError) as e:
            raise Err(types.Error_InvalidInput(f"input: expected {{\"deal_id\": \"…\"}} ({e})"))
        target = types.EntityRef(kind=types.EntityKind.DEAL, id=deal_id)
        # Host errors (not-found, denied, …) arrive as Err and propagate unchanged.
        deal = json.loads(crm.get(target))
        summary, items = summarise(deal)
        crm.add_note(target, summary)
        log.log(log.Level.INFO, f"summarised deal {deal_id} in run {ctx.run_id}")
        return json.dumps({"summary": summary, "items": items})
