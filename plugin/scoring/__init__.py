"""Scoring: load a shop's history with set-based SQL, run the value engine, store the results.

Public entry points:
- `request_recompute(tx, shop_id)` (requests.py): ask for a debounced recompute, inside the
  transaction that changed the shop's data.
- `recompute_shop_now(runtime, shop_id)` (recompute.py): recompute and store now.
- `score_shop_now(runtime, domain)` / `format_summary(summary)` (summary.py): the `score` command.
- reads.py: stored results for the admin API and the review pack; metrics_doc.py: their shape.
"""
