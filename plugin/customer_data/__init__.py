"""Value data on the Shopify customer: app-owned customer metafields (and optional tags).

- fields.py: the metafield definitions of our namespace and, purely, the values a customer
  should hold and what changed since the last confirmed write.
- sync.py: after each recompute, writes only what changed: `metafieldsSet` for a few
  customers, a bulk mutation (`stagedUploadsCreate` + `bulkOperationRunMutation`) for many;
  fires the "value segment entered" Flow trigger; records scopes the shop has not granted.
Merchants then build native customer segments on these metafields (docs/flow.md).
"""
