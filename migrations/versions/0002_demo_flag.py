"""users.is_demo: the demo profile is marked by a column, never found by its name

Revision ID: 0002_demo_flag
Revises: 0001_initial
Create Date: 2026-12-03
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0002_demo_flag'
down_revision: str | None = '0001_initial'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# What `etude demo` wrote before this revision: this name together with {"demo": true} in the
# settings. A student's own profile with that name has no such setting and stays a student's.
_OLD_DEMO_NAME = 'Demo student'


def upgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('is_demo', sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    users = sa.table(
        'users',
        sa.column('id', sa.Uuid()),
        sa.column('display_name', sa.String()),
        sa.column('settings_json', sa.Text()),
        sa.column('is_demo', sa.Boolean()),
    )
    conn = op.get_bind()
    named = conn.execute(
        sa.select(users.c.id, users.c.settings_json).where(users.c.display_name == _OLD_DEMO_NAME)
    ).all()
    for row_id, settings in named:
        try:
            parsed = json.loads(settings or '{}')
        except ValueError:
            continue
        if isinstance(parsed, dict) and parsed.get('demo') is True:
            conn.execute(users.update().where(users.c.id == row_id).values(is_demo=True))


def downgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('is_demo')
