"""Score rows carry a fingerprint of their values, so a recompute rewrites only those that
changed.

Revision ID: 0017_score_fingerprint
Revises: 0011_throughput
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017_score_fingerprint"
down_revision = "0011_throughput"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("subscriber_scores", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fingerprint", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("subscriber_scores", schema=None) as batch_op:
        batch_op.drop_column("fingerprint")
