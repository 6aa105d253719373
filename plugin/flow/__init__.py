"""Shopify Flow triggers: the one place that fires them.

- catalogue.py: every trigger the app ships (handle, fields); each has an extension folder
  under `extensions/` whose TOML names the same fields (a test holds them together).
- outbox.py: `record_trigger(tx, …)` stores a firing in the business transaction, unique per
  (shop, trigger, key), and asks for it to be fired after commit; `fire_event` sends it with
  `flowTriggerReceive`; a sweeper fires what a lost job left pending.
- events.py: the payload of each trigger, built from our rows.
Docs for merchants: docs/flow.md.
"""
