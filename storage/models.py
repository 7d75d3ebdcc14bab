"""The Etude data model: the seed story's four tables plus profiles and sync tombstones.

Every seed field keeps the seed's name. Every row has a UUID primary key (profiles stay unique
across machines that sync), ``created_at``/``updated_at`` (aware UTC) and ``usn``, an Anki-style
update sequence number: -1 means "changed locally since the last sync"; a sync stamps it with the
server's counter. Deletions leave a row in ``tombstones`` so a later sync can replay them.

Enumerations are stored as short strings guarded by CHECK constraints (non-native enums), so
SQLite and PostgreSQL both refuse a bad value even if it bypasses the service validation.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Dialect,
    Enum,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    any_,
    bindparam,
    false,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

SESSION_STATUSES: tuple[str, ...] = ("active", "completed", "abandoned")
DIFFICULTY_LEVELS: tuple[str, ...] = ("beginner", "intermediate", "advanced")
PERIOD_TYPES: tuple[str, ...] = ("daily", "weekly", "monthly")
ACCOUNT_KINDS: tuple[str, ...] = ("student", "teacher")

# A fixed naming convention keeps constraint names identical on SQLite and PostgreSQL, which
# batch-mode migrations on SQLite need to find constraints again.
NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """An aware datetime stored as UTC.

    Binding refuses naive datetimes (their zone is unknown) and converts aware ones to UTC.
    SQLite has no zone-aware type, so it stores naive UTC text; reading always yields aware UTC
    on both SQLite and PostgreSQL.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: timestamps must be timezone-aware")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base of every Etude table; its MetaData carries the naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class SyncMixin:
    """Columns every synced row carries."""

    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    # -1 = pending sync; also applied by Core UPDATE statements through ``onupdate``. Indexed:
    # a sync reads the rows changed since a given usn (server) or pending (-1, locally).
    usn: Mapped[int] = mapped_column(Integer, default=-1, onupdate=-1, index=True)


def _enum(values: tuple[str, ...], name: str) -> Enum:
    return Enum(*values, name=name, native_enum=False, create_constraint=True, length=16)


class User(SyncMixin, Base):
    """A student profile. ``timezone`` is an IANA name (e.g. "Europe/Paris") that defines the
    profile's local day for progress; ``settings_json`` holds a JSON object of preferences;
    ``is_demo`` marks the generated demo profile."""

    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    # Unique among a computer's profiles (the service checks it), but not in the schema: a
    # teacher's server holds every student's profile, and two students may share a name.
    display_name: Mapped[str] = mapped_column(String(255))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    settings_json: Mapped[str] = mapped_column(Text, default="{}")
    # The generated profile ``etude demo`` replaces; never a student's, whatever its name.
    is_demo: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    sessions: Mapped[list[RealtimeSession]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )


class RealtimeSession(SyncMixin, Base):
    """A practice session (seed: RealtimeSession). ``duration_seconds`` is set when it ends."""

    __tablename__ = "realtime_sessions"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    piece_name: Mapped[str | None] = mapped_column(String(255))
    genre: Mapped[str | None] = mapped_column(String(255))
    target_tempo: Mapped[int | None] = mapped_column(Integer)
    difficulty_level: Mapped[str | None] = mapped_column(
        _enum(DIFFICULTY_LEVELS, "difficulty_level")
    )
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
    websocket_session_id: Mapped[str | None] = mapped_column(String(255))
    # The teacher's assignment this session was practised for (None: free practice). SET NULL:
    # a deleted assignment leaves the practice in place.
    assignment_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("assignments.id", ondelete="SET NULL"), index=True
    )
    chunks_processed: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(_enum(SESSION_STATUSES, "session_status"), default="active")

    user: Mapped[User] = relationship(back_populates="sessions")
    performances: Mapped[list[Performance]] = relationship(
        back_populates="session", cascade="all, delete-orphan", passive_deletes=True
    )

    __table_args__ = (
        # Listing a profile's sessions newest first, optionally by status, and the stats window.
        Index("ix_realtime_sessions_user_id_started_at", "user_id", "started_at"),
        Index("ix_realtime_sessions_user_id_status_started_at", "user_id", "status", "started_at"),
    )


class Performance(SyncMixin, Base):
    """One take within a session (seed: Performance). ``recording_duration`` is in seconds,
    ``sample_rate`` in Hz. ``recovered`` is true for a take repaired after a crash."""

    __tablename__ = "performances"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    session_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("realtime_sessions.id", ondelete="CASCADE"), index=True
    )
    recording_started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    recording_duration: Mapped[float] = mapped_column(Float, default=0.0)
    audio_path: Mapped[str | None] = mapped_column(String(500))
    midi_path: Mapped[str | None] = mapped_column(String(500))
    sample_rate: Mapped[int] = mapped_column(Integer, default=44100)
    audio_format: Mapped[str | None] = mapped_column(String(32))
    notes: Mapped[str | None] = mapped_column(Text)
    recovered: Mapped[bool | None] = mapped_column(Boolean, default=False)
    # SHA-256 (hex) of the take's audio file once it is known, so a teacher's server can hold the
    # audio under its content hash (storage.sync.audio); None until then.
    audio_sha256: Mapped[str | None] = mapped_column(String(64))

    session: Mapped[RealtimeSession] = relationship(back_populates="performances")
    analysis_results: Mapped[list[AnalysisResult]] = relationship(
        back_populates="performance", cascade="all, delete-orphan", passive_deletes=True
    )

    __table_args__ = (
        Index(
            "ix_performances_session_id_recording_started_at", "session_id", "recording_started_at"
        ),
    )


class AnalysisResult(SyncMixin, Base):
    """The metrics of one analysis of a take (seed: AnalysisResult). Scores are 0..1,
    ``avg_pitch_deviation_cents`` is in cents, ``processing_time_ms`` in milliseconds."""

    __tablename__ = "analysis_results"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    performance_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("performances.id", ondelete="CASCADE"), index=True
    )
    pitch_accuracy: Mapped[float | None] = mapped_column(Float)
    rhythm_accuracy: Mapped[float | None] = mapped_column(Float)
    dynamics_range: Mapped[float | None] = mapped_column(Float)
    overall_score: Mapped[float | None] = mapped_column(Float)
    avg_pitch_deviation_cents: Mapped[float | None] = mapped_column(Float)
    timing_consistency: Mapped[float | None] = mapped_column(Float)
    tempo_stability: Mapped[float | None] = mapped_column(Float)
    note_accuracy_rate: Mapped[float | None] = mapped_column(Float)
    total_notes_detected: Mapped[int | None] = mapped_column(Integer)
    total_onsets_detected: Mapped[int | None] = mapped_column(Integer)
    total_dynamics_events: Mapped[int | None] = mapped_column(Integer)
    feedback_json: Mapped[str | None] = mapped_column(Text)
    difficulty_estimate: Mapped[str | None] = mapped_column(
        _enum(DIFFICULTY_LEVELS, "difficulty_estimate")
    )
    genre_match_score: Mapped[float | None] = mapped_column(Float)
    analysis_engine_version: Mapped[str | None] = mapped_column(String(64))
    processing_time_ms: Mapped[int | None] = mapped_column(Integer)
    # Redeclared (not only from SyncMixin) because the seed indexes it.
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)

    performance: Mapped[Performance] = relationship(back_populates="analysis_results")

    __table_args__ = (
        # Latest analysis of a take.
        Index("ix_analysis_results_performance_id_created_at", "performance_id", "created_at"),
    )


class ProgressMetric(SyncMixin, Base):
    """One rolled-up period of a profile's practice (seed: ProgressMetric).

    ``metric_date`` is the period's start (local midnight of the day, the ISO week's Monday or the
    month's first day in the profile's timezone) stored as aware UTC. See storage.progress for
    the definition of every figure.
    """

    __tablename__ = "progress_metrics"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    metric_date: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    period_type: Mapped[str] = mapped_column(_enum(PERIOD_TYPES, "period_type"))
    total_sessions: Mapped[int] = mapped_column(Integer, default=0)
    total_practice_time_seconds: Mapped[int] = mapped_column(Integer, default=0)
    avg_pitch_accuracy: Mapped[float | None] = mapped_column(Float)
    avg_rhythm_accuracy: Mapped[float | None] = mapped_column(Float)
    avg_dynamics_range: Mapped[float | None] = mapped_column(Float)
    avg_overall_score: Mapped[float | None] = mapped_column(Float)
    improvement_rate: Mapped[float | None] = mapped_column(Float)
    consistency_score: Mapped[float | None] = mapped_column(Float)
    genre_breakdown_json: Mapped[str | None] = mapped_column(Text)
    milestones_json: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (UniqueConstraint("user_id", "period_type", "metric_date"),)


class Assignment(SyncMixin, Base):
    """A piece a teacher set one student (teacher's studio). Written on the teacher's server by
    the teacher only; synced down to the student's computers, where it is read-only.

    ``reference_midi`` holds the reference MIDI file itself (small, and the teacher's path means
    nothing on the student's computer), ``reference_name`` its file name; ``due_on`` is a local
    day; ``min_minutes`` and ``target_score`` (0..1) are optional goals: an assignment with goals
    is done once every goal is met."""

    __tablename__ = "assignments"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    teacher_name: Mapped[str] = mapped_column(String(255))
    title: Mapped[str] = mapped_column(String(255))
    reference_name: Mapped[str | None] = mapped_column(String(255))
    reference_midi: Mapped[bytes | None] = mapped_column(LargeBinary)
    target_tempo: Mapped[int | None] = mapped_column(Integer)
    genre: Mapped[str | None] = mapped_column(String(255))
    difficulty_level: Mapped[str | None] = mapped_column(
        _enum(DIFFICULTY_LEVELS, "assignment_difficulty")
    )
    due_on: Mapped[date | None] = mapped_column(Date)
    min_minutes: Mapped[int | None] = mapped_column(Integer)
    target_score: Mapped[float | None] = mapped_column(Float)
    instructions: Mapped[str | None] = mapped_column(Text)


class TakeComment(SyncMixin, Base):
    """A teacher's comment on one of a student's takes, optionally at ``at_seconds`` into it.
    Written by the teacher on the server; synced down to the student, read-only there.
    ``user_id`` is the student (the take's owner), kept on the row for row-level security."""

    __tablename__ = "take_comments"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    performance_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("performances.id", ondelete="CASCADE"), index=True
    )
    author_name: Mapped[str] = mapped_column(String(255))
    body: Mapped[str] = mapped_column(Text)
    at_seconds: Mapped[float | None] = mapped_column(Float)


class CommentRead(SyncMixin, Base):
    """The student has opened a comment (a read mark). Written by the student, synced up (the
    teacher sees it) and to the student's other computers. Its id is derived from the comment's
    (:func:`comment_read_id`), so two computers marking one comment write the same row."""

    __tablename__ = "comment_reads"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    comment_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("take_comments.id", ondelete="CASCADE"), unique=True
    )
    read_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Tombstone(Base):
    """A deleted row, kept so a later sync can replay the deletion on the other side.

    ``user_id`` is the profile the deleted row belonged to (no foreign key: the profile itself
    may be the row deleted); a sync pushes only its own profile's tombstones, and a server's
    row-level security shows each student only theirs. None on tombstones written before sync
    existed, which no server ever needs."""

    __tablename__ = "tombstones"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    table_name: Mapped[str] = mapped_column(String(64))
    row_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    deleted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    usn: Mapped[int] = mapped_column(Integer, default=-1, index=True)
    user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)


class SyncAccount(Base):
    """Server side: one row per login role of a teacher's server (``etude server add-...``).

    ``role_name`` is the PostgreSQL login role; ``kind`` is "student" or "teacher". A student's
    ``user_id`` is the profile the account syncs (None until their first sync claims it; never
    changed after), ``teacher_role`` their teacher's role, and ``usn`` the per-student update
    counter that every sync of theirs bumps under a row lock, so pulls never skip a row. Empty
    on a computer's local database."""

    __tablename__ = "sync_accounts"

    role_name: Mapped[str] = mapped_column(String(63), primary_key=True)
    kind: Mapped[str] = mapped_column(_enum(ACCOUNT_KINDS, "account_kind"))
    display_name: Mapped[str] = mapped_column(String(255))
    user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, unique=True)
    teacher_role: Mapped[str | None] = mapped_column(String(63), index=True)
    usn: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SyncLink(Base):
    """Local side: a profile linked to an account on a teacher's server.

    ``host``/``port``/``dbname``/``role_name`` say where and as whom (the password lives in the
    OS keyring, never here); ``ca_cert_path`` is the teacher's root certificate for TLS
    verify-full. ``last_usn`` is the server counter up to which this computer has pulled: it is
    moved in the same local transaction as the rows it covers. Empty on a server."""

    __tablename__ = "sync_links"

    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    host: Mapped[str] = mapped_column(String(255))
    port: Mapped[int] = mapped_column(Integer, default=5432)
    dbname: Mapped[str] = mapped_column(String(63))
    role_name: Mapped[str] = mapped_column(String(63))
    ca_cert_path: Mapped[str | None] = mapped_column(String(500))
    upload_audio: Mapped[bool] = mapped_column(Boolean, default=True)
    last_usn: Mapped[int] = mapped_column(Integer, default=0)
    last_synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AudioUpload(Base):
    """Local side: audio (by SHA-256) that the server is known to hold complete for a profile,
    so a sync does not ask the server about every old take again. Empty on a server."""

    __tablename__ = "audio_uploads"

    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AudioBlob(Base):
    """Server side: a take's audio file held under its content hash (SHA-256, hex) for one
    student, uploaded in chunks of ``chunk_bytes``; ``complete`` once every chunk is in and the
    whole hashes right. Empty on a computer's local database."""

    __tablename__ = "audio_blobs"

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    chunk_bytes: Mapped[int] = mapped_column(Integer)
    audio_format: Mapped[str | None] = mapped_column(String(32))
    complete: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AudioChunk(Base):
    """Server side: one chunk (``index`` from 0) of an :class:`AudioBlob`."""

    __tablename__ = "audio_chunks"

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    chunk_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)

    __table_args__ = (
        ForeignKeyConstraint(
            ["user_id", "sha256"],
            ["audio_blobs.user_id", "audio_blobs.sha256"],
            ondelete="CASCADE",
        ),
    )


class EtudeMeta(Base):
    """Key/value facts about the database itself, e.g. ``app_version``: the Etude version that
    last migrated it, quoted when a newer database is refused."""

    __tablename__ = "etude_meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(255))


# The namespace of progress row ids (a fixed, random UUID). Never change it: migration 0002 and
# every computer that syncs must derive the same id for the same period.
PROGRESS_ID_NAMESPACE = uuid.UUID("6f1d2c9e-8a4b-4e57-9d3c-2b7e5f0a1c84")


def progress_row_id(user_id: uuid.UUID, period_type: str, metric_date: datetime) -> uuid.UUID:
    """The id of a profile's progress row for one period: derived from (user_id, period_type,
    metric_date as UTC), so two computers that compute the same period write the same row and a
    sync merges them instead of colliding on the (user, period, date) unique key."""
    moment = metric_date.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return uuid.uuid5(PROGRESS_ID_NAMESPACE, f"{user_id}/{period_type}/{moment}")


# The namespace of read-mark ids (fixed, random; never change it).
COMMENT_READ_NAMESPACE = uuid.UUID("3b9e4c1a-7d52-4f0b-a8e6-91c2d4f7b305")


def comment_read_id(comment_id: uuid.UUID) -> uuid.UUID:
    """The id of the read mark of a comment: derived from the comment's id, so every computer of
    the student writes the same row for it."""
    return uuid.uuid5(COMMENT_READ_NAMESPACE, str(comment_id))


def id_in(column: Any, ids: list[uuid.UUID], dialect_name: str) -> Any:
    """``column IN ids`` as one array parameter on PostgreSQL (hundreds of separate bind
    parameters cost more to send and plan than the query itself), a plain IN elsewhere."""
    if dialect_name == "postgresql":
        return column == any_(bindparam(None, ids, type_=postgresql.ARRAY(Uuid)))
    return column.in_(ids)


def row_dict(obj: Any) -> dict[str, Any]:
    """Column values of an ORM row by column name (no relationships)."""
    return {c.key: getattr(obj, c.key) for c in obj.__table__.columns}
