"""worker heartbeats: which queue workers are alive, for /readyz and the console

Revision ID: 0010_worker_beats
Revises: 0009_outbox_request_id
Create Date: 2026-12-04 14:20:00

"""
from alembic import op
import sqlalchemy as sa

import campaign.core.db


# revision identifiers, used by Alembic.
revision = '0010_worker_beats'
down_revision = '0009_outbox_request_id'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'worker_beats',
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('started_at', campaign.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('seen_at', campaign.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_worker_beats')),
    )


def downgrade():
    op.drop_table('worker_beats')
