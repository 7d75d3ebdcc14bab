"""initial schema: profiles, the seed tables, tombstones

Revision ID: 0001_initial
Revises: (none)
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0001_initial'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('etude_meta',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('value', sa.String(length=255), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_etude_meta'))
    )
    op.create_table('tombstones',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('table_name', sa.String(length=64), nullable=False),
    sa.Column('row_id', sa.Uuid(), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('usn', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tombstones'))
    )
    with op.batch_alter_table('tombstones', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tombstones_deleted_at'), ['deleted_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_tombstones_row_id'), ['row_id'], unique=False)

    op.create_table('users',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('display_name', sa.String(length=255), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('settings_json', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('usn', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('display_name', name=op.f('uq_users_display_name'))
    )
    op.create_table('progress_metrics',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('metric_date', sa.DateTime(timezone=True), nullable=False),
    sa.Column('period_type', sa.Enum('daily', 'weekly', 'monthly', name='period_type', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('total_sessions', sa.Integer(), nullable=False),
    sa.Column('total_practice_time_seconds', sa.Integer(), nullable=False),
    sa.Column('avg_pitch_accuracy', sa.Float(), nullable=True),
    sa.Column('avg_rhythm_accuracy', sa.Float(), nullable=True),
    sa.Column('avg_dynamics_range', sa.Float(), nullable=True),
    sa.Column('avg_overall_score', sa.Float(), nullable=True),
    sa.Column('improvement_rate', sa.Float(), nullable=True),
    sa.Column('consistency_score', sa.Float(), nullable=True),
    sa.Column('genre_breakdown_json', sa.Text(), nullable=True),
    sa.Column('milestones_json', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('usn', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_progress_metrics_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_progress_metrics')),
    sa.UniqueConstraint('user_id', 'period_type', 'metric_date', name=op.f('uq_progress_metrics_user_id_period_type_metric_date'))
    )
    with op.batch_alter_table('progress_metrics', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_progress_metrics_metric_date'), ['metric_date'], unique=False)
        batch_op.create_index(batch_op.f('ix_progress_metrics_user_id'), ['user_id'], unique=False)

    op.create_table('realtime_sessions',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('piece_name', sa.String(length=255), nullable=True),
    sa.Column('genre', sa.String(length=255), nullable=True),
    sa.Column('target_tempo', sa.Integer(), nullable=True),
    sa.Column('difficulty_level', sa.Enum('beginner', 'intermediate', 'advanced', name='difficulty_level', native_enum=False, create_constraint=True, length=16), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('duration_seconds', sa.Integer(), nullable=True),
    sa.Column('websocket_session_id', sa.String(length=255), nullable=True),
    sa.Column('chunks_processed', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('active', 'completed', 'abandoned', name='session_status', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('usn', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_realtime_sessions_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_realtime_sessions'))
    )
    with op.batch_alter_table('realtime_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_realtime_sessions_started_at'), ['started_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_realtime_sessions_user_id'), ['user_id'], unique=False)
        batch_op.create_index('ix_realtime_sessions_user_id_started_at', ['user_id', 'started_at'], unique=False)
        batch_op.create_index('ix_realtime_sessions_user_id_status_started_at', ['user_id', 'status', 'started_at'], unique=False)

    op.create_table('performances',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('session_id', sa.Uuid(), nullable=False),
    sa.Column('recording_started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('recording_duration', sa.Float(), nullable=False),
    sa.Column('audio_path', sa.String(length=500), nullable=True),
    sa.Column('midi_path', sa.String(length=500), nullable=True),
    sa.Column('sample_rate', sa.Integer(), nullable=False),
    sa.Column('audio_format', sa.String(length=32), nullable=True),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('recovered', sa.Boolean(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('usn', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['session_id'], ['realtime_sessions.id'], name=op.f('fk_performances_session_id_realtime_sessions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_performances'))
    )
    with op.batch_alter_table('performances', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_performances_session_id'), ['session_id'], unique=False)
        batch_op.create_index('ix_performances_session_id_recording_started_at', ['session_id', 'recording_started_at'], unique=False)

    op.create_table('analysis_results',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('performance_id', sa.Uuid(), nullable=False),
    sa.Column('pitch_accuracy', sa.Float(), nullable=True),
    sa.Column('rhythm_accuracy', sa.Float(), nullable=True),
    sa.Column('dynamics_range', sa.Float(), nullable=True),
    sa.Column('overall_score', sa.Float(), nullable=True),
    sa.Column('avg_pitch_deviation_cents', sa.Float(), nullable=True),
    sa.Column('timing_consistency', sa.Float(), nullable=True),
    sa.Column('tempo_stability', sa.Float(), nullable=True),
    sa.Column('note_accuracy_rate', sa.Float(), nullable=True),
    sa.Column('total_notes_detected', sa.Integer(), nullable=True),
    sa.Column('total_onsets_detected', sa.Integer(), nullable=True),
    sa.Column('total_dynamics_events', sa.Integer(), nullable=True),
    sa.Column('feedback_json', sa.Text(), nullable=True),
    sa.Column('difficulty_estimate', sa.Enum('beginner', 'intermediate', 'advanced', name='difficulty_estimate', native_enum=False, create_constraint=True, length=16), nullable=True),
    sa.Column('genre_match_score', sa.Float(), nullable=True),
    sa.Column('analysis_engine_version', sa.String(length=64), nullable=True),
    sa.Column('processing_time_ms', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('usn', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['performance_id'], ['performances.id'], name=op.f('fk_analysis_results_performance_id_performances'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_analysis_results'))
    )
    with op.batch_alter_table('analysis_results', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_analysis_results_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_analysis_results_performance_id'), ['performance_id'], unique=False)
        batch_op.create_index('ix_analysis_results_performance_id_created_at', ['performance_id', 'created_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('analysis_results', schema=None) as batch_op:
        batch_op.drop_index('ix_analysis_results_performance_id_created_at')
        batch_op.drop_index(batch_op.f('ix_analysis_results_performance_id'))
        batch_op.drop_index(batch_op.f('ix_analysis_results_created_at'))

    op.drop_table('analysis_results')
    with op.batch_alter_table('performances', schema=None) as batch_op:
        batch_op.drop_index('ix_performances_session_id_recording_started_at')
        batch_op.drop_index(batch_op.f('ix_performances_session_id'))

    op.drop_table('performances')
    with op.batch_alter_table('realtime_sessions', schema=None) as batch_op:
        batch_op.drop_index('ix_realtime_sessions_user_id_status_started_at')
        batch_op.drop_index('ix_realtime_sessions_user_id_started_at')
        batch_op.drop_index(batch_op.f('ix_realtime_sessions_user_id'))
        batch_op.drop_index(batch_op.f('ix_realtime_sessions_started_at'))

    op.drop_table('realtime_sessions')
    with op.batch_alter_table('progress_metrics', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_progress_metrics_user_id'))
        batch_op.drop_index(batch_op.f('ix_progress_metrics_metric_date'))

    op.drop_table('progress_metrics')
    op.drop_table('users')
    with op.batch_alter_table('tombstones', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tombstones_row_id'))
        batch_op.drop_index(batch_op.f('ix_tombstones_deleted_at'))

    op.drop_table('tombstones')
    op.drop_table('etude_meta')
