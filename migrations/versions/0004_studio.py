"""studio: assignments, take comments, read marks, sessions linked to an assignment

Revision ID: 0004_studio
Revises: 0003_sync
Create Date: 2026-12-03

The teacher's studio: assignments and take comments (written by the teacher on the server,
synced down to the student), read marks of comments (written by the student, synced up), and
sessions linked to the assignment they were practised for.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0004_studio'
down_revision: str | None = '0003_sync'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('assignments',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('teacher_name', sa.String(length=255), nullable=False),
    sa.Column('title', sa.String(length=255), nullable=False),
    sa.Column('reference_name', sa.String(length=255), nullable=True),
    sa.Column('reference_midi', sa.LargeBinary(), nullable=True),
    sa.Column('target_tempo', sa.Integer(), nullable=True),
    sa.Column('genre', sa.String(length=255), nullable=True),
    sa.Column('difficulty_level', sa.Enum('beginner', 'intermediate', 'advanced', name='assignment_difficulty', native_enum=False, create_constraint=True, length=16), nullable=True),
    sa.Column('due_on', sa.Date(), nullable=True),
    sa.Column('min_minutes', sa.Integer(), nullable=True),
    sa.Column('target_score', sa.Float(), nullable=True),
    sa.Column('instructions', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('usn', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_assignments_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_assignments'))
    )
    with op.batch_alter_table('assignments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_assignments_user_id'), ['user_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_assignments_usn'), ['usn'], unique=False)

    op.create_table('take_comments',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('performance_id', sa.Uuid(), nullable=False),
    sa.Column('author_name', sa.String(length=255), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('at_seconds', sa.Float(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('usn', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['performance_id'], ['performances.id'], name=op.f('fk_take_comments_performance_id_performances'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_take_comments_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_take_comments'))
    )
    with op.batch_alter_table('take_comments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_take_comments_performance_id'), ['performance_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_take_comments_user_id'), ['user_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_take_comments_usn'), ['usn'], unique=False)

    op.create_table('comment_reads',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('comment_id', sa.Uuid(), nullable=False),
    sa.Column('read_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('usn', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['comment_id'], ['take_comments.id'], name=op.f('fk_comment_reads_comment_id_take_comments'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_comment_reads_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_comment_reads')),
    sa.UniqueConstraint('comment_id', name=op.f('uq_comment_reads_comment_id'))
    )
    with op.batch_alter_table('comment_reads', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_comment_reads_user_id'), ['user_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_comment_reads_usn'), ['usn'], unique=False)

    with op.batch_alter_table('realtime_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('assignment_id', sa.Uuid(), nullable=True))
        batch_op.create_index(batch_op.f('ix_realtime_sessions_assignment_id'), ['assignment_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_realtime_sessions_assignment_id_assignments'), 'assignments', ['assignment_id'], ['id'], ondelete='SET NULL')



def downgrade() -> None:
    with op.batch_alter_table('realtime_sessions', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_realtime_sessions_assignment_id_assignments'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_realtime_sessions_assignment_id'))
        batch_op.drop_column('assignment_id')

    with op.batch_alter_table('comment_reads', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_comment_reads_usn'))
        batch_op.drop_index(batch_op.f('ix_comment_reads_user_id'))

    op.drop_table('comment_reads')
    with op.batch_alter_table('take_comments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_take_comments_usn'))
        batch_op.drop_index(batch_op.f('ix_take_comments_user_id'))
        batch_op.drop_index(batch_op.f('ix_take_comments_performance_id'))

    op.drop_table('take_comments')
    with op.batch_alter_table('assignments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_assignments_usn'))
        batch_op.drop_index(batch_op.f('ix_assignments_user_id'))

    op.drop_table('assignments')
