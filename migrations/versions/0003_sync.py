"""sync: server accounts, local links, audio blobs, tombstone owners, usn indexes

Revision ID: 0003_sync
Revises: 0002_demo_flag
Create Date: 2026-12-03

Also: users.display_name is no longer unique in the schema (a teacher's server holds every
student's profile; the service still keeps a computer's own profile names unique), and every
progress row gets the id derived from (user, period, date) that storage.models.progress_row_id
computes, so two computers that roll up the same period write the same row.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = '0003_sync'
down_revision: str | None = '0002_demo_flag'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Copied from storage.models (PROGRESS_ID_NAMESPACE, progress_row_id) on purpose: a migration
# must keep computing what it computed when it was written.
_NAMESPACE = uuid.UUID("6f1d2c9e-8a4b-4e57-9d3c-2b7e5f0a1c84")
_SYNCED = ('users', 'realtime_sessions', 'performances', 'analysis_results', 'progress_metrics')


def _progress_id(user_id: uuid.UUID, period_type: str, metric_date: datetime) -> uuid.UUID:
    if metric_date.tzinfo is None:  # SQLite keeps naive UTC
        metric_date = metric_date.replace(tzinfo=UTC)
    moment = metric_date.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return uuid.uuid5(_NAMESPACE, f"{user_id}/{period_type}/{moment}")


def upgrade() -> None:
    op.create_table('sync_accounts',
    sa.Column('role_name', sa.String(length=63), nullable=False),
    sa.Column('kind', sa.Enum('student', 'teacher', name='account_kind', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('display_name', sa.String(length=255), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=True),
    sa.Column('teacher_role', sa.String(length=63), nullable=True),
    sa.Column('usn', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('role_name', name=op.f('pk_sync_accounts')),
    sa.UniqueConstraint('user_id', name=op.f('uq_sync_accounts_user_id'))
    )
    with op.batch_alter_table('sync_accounts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sync_accounts_teacher_role'), ['teacher_role'], unique=False)

    op.create_table('sync_links',
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('host', sa.String(length=255), nullable=False),
    sa.Column('port', sa.Integer(), nullable=False),
    sa.Column('dbname', sa.String(length=63), nullable=False),
    sa.Column('role_name', sa.String(length=63), nullable=False),
    sa.Column('ca_cert_path', sa.String(length=500), nullable=True),
    sa.Column('upload_audio', sa.Boolean(), nullable=False),
    sa.Column('last_usn', sa.Integer(), nullable=False),
    sa.Column('last_synced_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_sync_links_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_sync_links'))
    )
    op.create_table('audio_uploads',
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('uploaded_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_audio_uploads_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'sha256', name=op.f('pk_audio_uploads'))
    )
    op.create_table('audio_blobs',
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size_bytes', sa.BigInteger(), nullable=False),
    sa.Column('chunk_bytes', sa.Integer(), nullable=False),
    sa.Column('audio_format', sa.String(length=32), nullable=True),
    sa.Column('complete', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('user_id', 'sha256', name=op.f('pk_audio_blobs'))
    )
    op.create_table('audio_chunks',
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('chunk_index', sa.Integer(), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['user_id', 'sha256'], ['audio_blobs.user_id', 'audio_blobs.sha256'], name=op.f('fk_audio_chunks_user_id_audio_blobs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'sha256', 'chunk_index', name=op.f('pk_audio_chunks'))
    )
    with op.batch_alter_table('tombstones', schema=None) as batch_op:
        batch_op.add_column(sa.Column('user_id', sa.Uuid(), nullable=True))
        batch_op.create_index(batch_op.f('ix_tombstones_usn'), ['usn'], unique=False)
        batch_op.create_index(batch_op.f('ix_tombstones_user_id'), ['user_id'], unique=False)

    with op.batch_alter_table('performances', schema=None) as batch_op:
        batch_op.add_column(sa.Column('audio_sha256', sa.String(length=64), nullable=True))

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_users_display_name'), type_='unique')

    for table in _SYNCED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_index(batch_op.f(f'ix_{table}_usn'), ['usn'], unique=False)

    progress = sa.table(
        'progress_metrics',
        sa.column('id', sa.Uuid()),
        sa.column('user_id', sa.Uuid()),
        sa.column('period_type', sa.String()),
        sa.column('metric_date', sa.DateTime(timezone=True)),
    )
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(progress.c.id, progress.c.user_id, progress.c.period_type, progress.c.metric_date)
    ).all()
    for row_id, user_id, period_type, metric_date in rows:
        new_id = _progress_id(user_id, period_type, metric_date)
        if new_id != row_id:
            conn.execute(
                progress.update().where(progress.c.id == row_id).values(id=new_id)
            )


def downgrade() -> None:
    # Progress ids stay derived: they are valid random-looking UUIDs for revision 0001 too.
    for table in reversed(_SYNCED):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(batch_op.f(f'ix_{table}_usn'))

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.create_unique_constraint(batch_op.f('uq_users_display_name'), ['display_name'])

    with op.batch_alter_table('performances', schema=None) as batch_op:
        batch_op.drop_column('audio_sha256')

    with op.batch_alter_table('tombstones', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tombstones_user_id'))
        batch_op.drop_index(batch_op.f('ix_tombstones_usn'))
        batch_op.drop_column('user_id')

    op.drop_table('audio_chunks')
    op.drop_table('audio_blobs')
    op.drop_table('audio_uploads')
    op.drop_table('sync_links')
    with op.batch_alter_table('sync_accounts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sync_accounts_teacher_role'))

    op.drop_table('sync_accounts')
