"""Value initiatives: the merchant's backlog of actions and their measured effect.

- service.py: create / list / get / update, shop-scoped (InitiativeInvalid, InitiativeNotFound).
- effect.py: the target metric over the N days after the start against the N days before.
- metrics.py: the metrics an initiative may target; catalogue.py: drivers, statuses.
- stats.py: the two-proportion z test.
"""
