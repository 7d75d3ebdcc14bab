"""The practice session and take lifecycle, without widgets: what the practice page drives.

A session is what the student practises (one piece, one plan); a run is one Start..Stop of
listening inside it. Stop (Space) only pauses: the session stays open, its takes stay listed,
and Start continues it. The session ends by its own action (:meth:`PracticeController.end`),
when the plan or the student changes, when the window closes, or after ``IDLE_END_S`` of pause.
Each run and each session keeps its own state, so a late answer from a background thread
always finds what it belongs to, even after the student has pressed Stop and Start again.

Threads: this object lives on the GUI thread and is only ever called there; its signals fire
there. Every call that can block runs elsewhere, in the order asked:

* on ``ctx.audio`` (one background thread): opening the input (PortAudio opens the device),
  starting a take (creating its file), finishing a take (the recorder joins its writer thread,
  flushes and renames the file), stopping the analysis worker (joins its thread), and the
  metronome's output stream;
* on ``ctx.db`` (the database worker): creating and ending the session, saving a take.

The audio callback and the analysis worker belong to ``audio/``; the page drains the worker's
outbox on its repaint timer through :meth:`PracticeController.poll`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QElapsedTimer, QObject, Qt, QTimer, Signal

from audio.records import Note, Onset, PitchFrame, Record
from desktop.context import AppContext
from desktop.settings import Preferences
from desktop.usecases.history import remember_reference
from desktop.usecases.messages import failure_reason
from desktop.usecases.plan import SessionPlan
from desktop.usecases.sessions import finish_session, start_session
from desktop.usecases.takes import (
    SavedTake,
    TakeToSave,
    new_take_path,
    notes_in_take,
    save_live_take_when_free,
)

if TYPE_CHECKING:  # numpy, aubio and PortAudio load when practice first starts
    from sqlalchemy.orm import Session

    from audio.reference import Reference
    from audio.settings import AnalysisSettings
    from audio.sources import AudioSource
    from audio.worker import AnalysisWorker, TakeSpan
    from desktop.widgets.metronome import ClickStream
    from storage.records import SessionRecord

SourceFactory = Callable[[Preferences], "AudioSource"]
# A paused session (not listening) ends by itself after 30 minutes (stated in the README).
IDLE_END_S = 30 * 60
BEATS_PER_BAR = 4  # the count-in is one bar of four beats
# How often the sound server is asked whether a pulled-out microphone is back, ms.
INPUT_BACK_POLL_MS = 1000


def microphone_source(prefs: Preferences) -> AudioSource:
    """The default source: the chosen input device with the chosen format."""
    from audio.sources import MicrophoneSource

    return MicrophoneSource(
        device=prefs.input_device or None,
        sample_rate=prefs.sample_rate_hz,
        block_frames=prefs.block_size_samples,
        latency="high" if prefs.latency == "high" else "low",
    )


@dataclass(eq=False)
class _Take:
    """A take being recorded. start_s: where it began on the stream's time axis (seconds)."""

    path: Path
    start_s: float
    started_at: datetime  # when it was played: saving may wait behind other database work
    problem: str | None = None  # set when the take ends for a reason (the input stopped)
    could_not_start: bool = False


@dataclass(eq=False)
class _Practice:
    """One practice session: every run (Start..Stop) of one plan until the session ends."""

    plan: SessionPlan
    reference: Reference | None
    session: SessionRecord | None = None
    creating: bool = False  # the session row was asked for
    session_failed: bool = False
    end_asked: bool = False  # the session is to end once its runs have stopped
    session_ended: bool = False  # its end was sent to the database
    announced: bool = False  # practice_started was emitted for it
    runs_open: int = 0  # runs whose worker has not stopped yet (their hops are not final)
    hops: int = 0  # analysis hops of every run, counted into the session when it ends
    takes_started: int = 0

    def session_id(self) -> uuid.UUID:
        """The session this practice's takes belong to (a take only starts once it exists)."""
        if self.session is None:
            raise RuntimeError("a take was recorded before its session existed")
        return self.session.id


@dataclass(eq=False)
class _Run:
    """One Start..Stop of listening, inside a practice session."""

    practice: _Practice
    settings: AnalysisSettings
    worker: AnalysisWorker
    opened: bool = False  # the input is open (set on the GUI thread once the audio job is done)
    stopping: bool = False
    stopped: bool = False  # the worker has stopped; hops and notes are final
    # Everything played since Start; a take picks its notes by time when it ends, so notes that
    # finish just after the R key still belong to it.
    notes: list[Note] = field(default_factory=list)
    onsets: list[Onset] = field(default_factory=list)
    take: _Take | None = None
    input_lost: str | None = None  # what the student is told when the input stopped by itself

    @property
    def plan(self) -> SessionPlan:
        return self.practice.plan

    @property
    def reference(self) -> Reference | None:
        return self.practice.reference


@dataclass(eq=False)
class _CountIn:
    """One bar counted in before a take: beat_s apart, the take starts after ``beats``."""

    run: _Run
    bpm: float
    beats: int
    click: ClickStream | None = None  # its own clicks, when the metronome is off
    clock: QElapsedTimer = field(default_factory=QElapsedTimer)
    beat: int = 0  # the beat shown (1..beats), 0 before the first
    cancelled: bool = False

    @property
    def beat_ms(self) -> float:
        return 60_000.0 / self.bpm


@dataclass(frozen=True)
class _Closed:
    """A take's file after closing it: the worker's span of it, or why it could not close."""

    span: TakeSpan | None
    error: BaseException | None


class PracticeController(QObject):
    """Starts and stops listening, records and saves takes, opens and ends sessions."""

    practice_started = Signal(object)  # SessionRecord: a run listens into it (new or continued)
    practice_stopped = Signal(object)  # SessionRecord, once its end is committed
    live_changed = Signal(bool)  # listening was asked for (True) or stopped (False)
    session_held = Signal(bool)  # a session is open (listening or paused) / none is
    recording_changed = Signal(bool)
    take_started = Signal(str)  # the path being recorded
    take_saved = Signal(object)  # SavedTake, as stored
    records_drained = Signal(object)  # list[Record] drained outside the page's repaint tick
    metronome_changed = Signal(object)  # float BPM when the beat starts, None when it stops
    count_in_changed = Signal(object)  # beat 1..BEATS_PER_BAR while counting in; None after
    status_changed = Signal(str)
    problem = Signal(str)
    notice = Signal(str)  # good news after a problem (a take that waited is now stored)
    # Emitted on the database worker while a take waits for a busy database (its audio path and
    # the message); queued to this object's (GUI) thread.
    _store_waiting = Signal(str, str)

    def __init__(self, ctx: AppContext, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self._store_waiting.connect(self._take_waiting)
        self._waiting_takes: set[str] = set()  # audio paths of takes waiting for the database
        # A pulled-out microphone being waited for: (its source name, the plan, the reference).
        self._input_awaited: tuple[str, SessionPlan, Reference | None] | None = None
        self._probing = False
        self._input_back_timer = QTimer(self)
        self._input_back_timer.setInterval(INPUT_BACK_POLL_MS)
        self._input_back_timer.timeout.connect(self._check_input_back)
        self.source_factory: SourceFactory = microphone_source
        self._run: _Run | None = None  # the run listening now (or opening its input)
        self._latest: _Run | None = None  # the newest run, listening or not
        self._practice: _Practice | None = None  # the open session (listening or paused)
        self._newest: _Practice | None = None  # the newest session, open or ended
        self._click: ClickStream | None = None
        self._metronome_on = ctx.prefs.metronome_on
        # A paused session ends by itself after this long without listening.
        self._idle = QTimer(self)
        self._idle.setSingleShot(True)
        self._idle.timeout.connect(lambda: self.end("Session ended after a long pause."))
        self.idle_end_s = IDLE_END_S
        self._count_in: _CountIn | None = None
        self._count_timer = QTimer(self)
        self._count_timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._count_timer.setInterval(5)
        self._count_timer.timeout.connect(self._count_in_tick)

    # -- state -------------------------------------------------------------------------------

    @property
    def is_live(self) -> bool:
        """Listening, or its input is being opened."""
        return self._run is not None

    @property
    def is_listening(self) -> bool:
        """The input is open and being analysed."""
        return self._run is not None and self._run.opened

    @property
    def is_recording(self) -> bool:
        return self._run is not None and self._run.take is not None

    @property
    def is_counting_in(self) -> bool:
        return self._count_in is not None

    @property
    def take_elapsed_s(self) -> float | None:
        """Seconds recorded of the take in progress (stream time), None when not recording."""
        run = self._run
        if run is None or run.take is None or not run.opened:
            return None
        return max(0.0, float(run.worker.position_s) - run.take.start_s)

    @property
    def has_session(self) -> bool:
        """A session is open: listening now, or paused and continued by the next Start."""
        return self._practice is not None

    @property
    def worker(self) -> AnalysisWorker | None:
        """The analysis worker of the newest run (None before the first Start)."""
        return self._latest.worker if self._latest is not None else None

    @property
    def session(self) -> SessionRecord | None:
        """The newest session: the one being practised (or paused), or the last one ended."""
        return self._newest.session if self._newest is not None else None

    @property
    def live_notes(self) -> list[Note]:
        """The notes found since the newest Start (stream time)."""
        return self._latest.notes if self._latest is not None else []

    @property
    def level_db(self) -> float | None:
        run = self._run
        return run.worker.latest_level_db if run is not None and run.opened else None

    @property
    def input_notice(self) -> str | None:
        """One line on what is wrong with the input right now (hum, clipping, too quiet...), or
        None while it is fine or nothing is listening."""
        run = self._run
        check = run.worker.latest_input if run is not None and run.opened else None
        return check.notice if check is not None else None

    @property
    def position_s(self) -> float:
        """Seconds of input analysed in the current run (0 when not listening)."""
        run = self._run
        return float(run.worker.position_s) if run is not None and run.opened else 0.0

    # -- listening ---------------------------------------------------------------------------

    def start(self, plan: SessionPlan, reference: Reference | None) -> bool:
        """Start listening for ``plan``: False (and ``problem``) when the input cannot be set
        up. The open session continues when its plan is ``plan``; otherwise it ends and a new
        one is created once the input is open. ``practice_started`` fires once the session row
        exists."""
        if self._run is not None:
            return True
        self._stop_waiting_for_input()
        profile = self.ctx.profile
        if profile is None:
            self.problem.emit("Choose or create a profile first (top of the window).")
            return False
        from audio.sources import AudioUnavailableError
        from audio.worker import AnalysisWorker

        prefs = self.ctx.prefs
        tempo = float(plan.target_tempo_bpm) if plan.target_tempo_bpm else None
        try:
            settings = prefs.analysis_settings(tempo)
            worker = AnalysisWorker(self.source_factory(prefs), settings, reference=reference)
        except (AudioUnavailableError, ValueError, OSError) as exc:
            self.problem.emit(_input_problem(exc))
            return False
        practice = self._practice
        if practice is not None and (practice.plan != plan or practice.session_failed):
            self.end()
            practice = None
        if practice is None:
            practice = _Practice(plan, reference)
            self._practice = self._newest = practice
            self.session_held.emit(True)
        practice.reference = reference
        self._idle.stop()
        run = _Run(practice, settings, worker)
        practice.runs_open += 1
        self._run = self._latest = run
        self.live_changed.emit(True)
        self.status_changed.emit("Opening the input…")
        self.ctx.audio.submit(
            "open the input",
            worker.start,
            lambda _: self._input_opened(run),
            lambda exc: self._input_failed(run, exc),
        )
        return True

    def _input_opened(self, run: _Run) -> None:
        run.opened = True
        if run.stopping:
            return  # stopped while the input was opening; the stop job closes it
        self.status_changed.emit("Listening…")
        if self._metronome_on:
            self._start_metronome(run)
        practice = run.practice
        if practice.session is not None:
            self.practice_started.emit(practice.session)  # continuing the open session
            return
        if practice.creating:
            return  # asked by an earlier run; _session_created announces it
        profile = self.ctx.profile
        if profile is None:
            self.stop("No profile is chosen.")
            return
        practice.creating = True
        profile_id, plan, notes = profile.id, practice.plan, self.ctx.open_sessions
        data_dir = self.ctx.data_dir

        def create(s: Session) -> SessionRecord:
            session = start_session(s, profile_id, plan, notes)
            remember_reference(data_dir, session.id, plan.reference_path)  # "Practise again"
            return session

        self.ctx.db.submit(
            "start session",
            create,
            lambda session: self._session_created(practice, session),
            lambda exc: self._session_failed(practice, exc),
        )

    def _input_failed(self, run: _Run, exc: BaseException) -> None:
        run.stopping = run.stopped = True
        run.practice.runs_open -= 1
        if self._run is run:
            self._run = None
            self.live_changed.emit(False)
            self.status_changed.emit("Not listening.")
            self.problem.emit(_input_problem(exc))
            self._paused(run.practice)
        self._maybe_end(run.practice)

    def stop(self, reason: str | None = None) -> None:
        """Stop listening (pause): a take in progress is finished and saved, the input closed
        in the background. The session stays open: the next :meth:`start` with the same plan
        continues it; :meth:`end` ends it."""
        self._stop_waiting_for_input()
        run = self._run
        if run is None:
            return
        self._run = None
        run.stopping = True
        self.cancel_count_in()
        if run.take is not None:
            self._finish_take(run, run.take.problem)
        self._stop_metronome()
        self.live_changed.emit(False)
        self.status_changed.emit(reason or "Paused: Space continues this session.")
        worker = run.worker
        self.ctx.audio.submit(
            "stop the input",
            lambda: worker.stop(),
            lambda _: self._input_stopped(run),
            lambda exc: self._input_stopped(run),
        )
        self._paused(run.practice)

    def end(self, reason: str | None = None) -> None:
        """End the open session: listening stops (a take in progress is saved) and the session
        is ended once its runs have stopped (``practice_stopped``). Nothing when none is open."""
        practice = self._practice
        if practice is None:
            return
        self.stop(reason or "Session ended.")
        self._idle.stop()
        self._practice = None
        practice.end_asked = True
        self.session_held.emit(False)
        self._maybe_end(practice)

    def _paused(self, practice: _Practice) -> None:
        if practice is self._practice and self.idle_end_s > 0:
            self._idle.start(int(self.idle_end_s * 1000))

    def _input_stopped(self, run: _Run) -> None:
        # What the worker published while stopping (the last notes, the last hops) counts too.
        self.records_drained.emit(self._consume(run, run.worker.outbox.drain()))
        if not run.stopped:
            run.stopped = True
            run.practice.runs_open -= 1
        self._maybe_end(run.practice)

    def _session_created(self, practice: _Practice, session: SessionRecord) -> None:
        practice.session = session
        practice.creating = False
        self.ctx.events.session_changed.emit(session)
        if practice.end_asked:
            # Ended before the database answered: end it once its hops are counted, or it
            # would stay "active" until the next start-up marks it abandoned.
            self._maybe_end(practice)
            return
        practice.announced = True
        self.practice_started.emit(session)

    def _session_failed(self, practice: _Practice, exc: BaseException) -> None:
        practice.session_failed = True
        practice.creating = False
        if self._practice is practice:
            self.end()
            self.problem.emit(f"The session could not be started: {failure_reason(exc)}")

    def _maybe_end(self, practice: _Practice) -> None:
        """Send the session's end once it was asked for, its row exists and every run of it has
        stopped (so its hops are final)."""
        session = practice.session
        if (
            not practice.end_asked
            or session is None
            or practice.runs_open > 0
            or practice.session_ended
        ):
            return
        practice.session_ended = True
        hops = practice.hops
        self.ctx.db.submit(
            "end session",
            lambda s: finish_session(s, session.id, hops),
            lambda ended: self._session_ended(practice, ended),
        )

    def _session_ended(self, practice: _Practice, session: SessionRecord) -> None:
        # The end is committed: from now on a crash leaves nothing to recover.
        self.ctx.open_sessions.discard(session.id)
        practice.session = session
        self.ctx.events.session_changed.emit(session)
        # A session ended before it was announced reports its end only if no newer session has
        # started since.
        if practice.announced or practice is self._newest:
            self.practice_stopped.emit(session)

    # -- takes -------------------------------------------------------------------------------

    def count_in_take(self) -> bool:
        """Count in one bar at the session's tempo (clicks on the metronome's output, the beat
        in ``count_in_changed``), then start the take. Without a tempo the take starts at once.
        False, with a message, when not listening yet."""
        run = self._run
        if run is None or run.take is not None or self._count_in is not None:
            return False
        if run.practice.session is None:
            self.problem.emit("The session is still being set up; press R again in a moment.")
            return False
        bpm = self._tempo_bpm(run)
        if not bpm:
            return self.start_take()
        from desktop.widgets.metronome import ClickStream

        count = _CountIn(run, float(bpm), BEATS_PER_BAR)
        self._count_in = count
        # The count-in's clicks become the metronome's when it is on, so the beat goes on in
        # time with the bar just counted; otherwise they stop after the bar.
        click = ClickStream(
            float(bpm), BEATS_PER_BAR, max_beats=None if self._metronome_on else BEATS_PER_BAR
        )
        old, self._click = self._click, (click if self._metronome_on else None)
        count.click = None if self._metronome_on else click
        if old is not None:
            self.ctx.audio.submit("stop the metronome", old.stop, None, lambda _exc: None)
        self.status_changed.emit("Counting in…")
        self.count_in_changed.emit(0)

        def no_output(exc: BaseException) -> None:
            if self._click is click:
                self._click = None
            count.click = None
            self.status_changed.emit(f"Counting in (no sound output: {exc}).")
            self._count_in_begins(count)

        self.ctx.audio.submit(
            "start the count-in", click.start, lambda _: self._count_in_begins(count), no_output
        )
        return True

    def _count_in_begins(self, count: _CountIn) -> None:
        # The clicks are playing: the visible count follows the same clock from here.
        if count.cancelled or self._count_in is not count:
            return
        count.clock.start()
        if self._metronome_on:
            self.metronome_changed.emit(count.bpm)
        self._count_in_tick()
        self._count_timer.start()

    def _count_in_tick(self) -> None:
        count = self._count_in
        if count is None or not count.clock.isValid():
            return
        beat = int(count.clock.elapsed() // count.beat_ms) + 1
        if beat > count.beats:
            self._end_count_in(count)
            if self._run is count.run:
                self.start_take()
        elif beat != count.beat:
            count.beat = beat
            self.count_in_changed.emit(beat)

    def cancel_count_in(self) -> bool:
        """Stop counting in without recording (R again, or Stop). False when not counting."""
        count = self._count_in
        if count is None:
            return False
        count.cancelled = True
        self._end_count_in(count)
        self.status_changed.emit("Count-in cancelled.")
        return True

    def _end_count_in(self, count: _CountIn) -> None:
        self._count_timer.stop()
        self._count_in = None
        self.count_in_changed.emit(None)
        click, count.click = count.click, None
        if click is not None:
            self.ctx.audio.submit("stop the count-in", click.stop, None, lambda _exc: None)

    def start_take(self) -> bool:
        """Start recording a take now (no count-in). False, with a message, when not
        listening yet."""
        run = self._run
        if run is None or run.take is not None:
            return False
        practice = run.practice
        if practice.session is None:
            self.problem.emit("The session is still being set up; press R again in a moment.")
            return False
        practice.takes_started += 1
        take = _Take(
            new_take_path(self.ctx.recordings_dir, practice.session.id, practice.takes_started),
            float(run.worker.position_s),
            datetime.now(UTC),
        )
        run.take = take
        worker = run.worker
        self.ctx.audio.submit(
            "start a take",
            lambda: worker.start_take(take.path),
            None,
            lambda exc: self._take_not_started(run, take, exc),
        )
        self.recording_changed.emit(True)
        self.status_changed.emit("Recording a take…")
        self.take_started.emit(str(take.path))
        return True

    def _take_not_started(self, run: _Run, take: _Take, exc: BaseException) -> None:
        take.could_not_start = True
        if run.take is take:
            run.take = None
            self.recording_changed.emit(False)
        self.problem.emit(f"The take could not be recorded: {exc}")

    def stop_take(self, problem: str | None = None) -> bool:
        """End the take being recorded; it is finished and saved in the background. False
        when no take is being recorded."""
        run = self._run
        if run is None or run.take is None:
            return False
        self._finish_take(run, problem)
        if not run.stopping:
            self.status_changed.emit("Saving the take…")
        return True

    def _finish_take(self, run: _Run, problem: str | None) -> None:
        take = run.take
        if take is None:
            return
        run.take = None
        take.problem = problem
        self.recording_changed.emit(False)
        worker = run.worker

        def close() -> _Closed:
            # On the audio thread: the recorder joins its writer thread and flushes the file.
            try:
                if worker.recording:
                    worker.stop_take()
                return _Closed(worker.last_take, None)
            except Exception as exc:
                return _Closed(worker.last_take, exc)

        self.ctx.audio.submit(
            "finish the take", close, lambda closed: self._take_closed(run, take, closed)
        )

    def _take_closed(self, run: _Run, take: _Take, closed: _Closed) -> None:
        if take.could_not_start:
            return  # already said so; nothing was recorded
        self.records_drained.emit(self._consume(run, run.worker.outbox.drain()))
        span = closed.span
        if span is not None and Path(span.path) != take.path:
            # The worker's newest finished take is an earlier one: this take never finished.
            span = None
        start_s = span.start_s if span is not None else take.start_s
        end_s = span.end_s if span is not None else float(run.worker.position_s)
        final_path = Path(span.path) if span is not None else take.path
        problem = take.problem
        if closed.error is not None:
            problem = (problem or "") + f" Closing the take failed: {closed.error}"
        if not final_path.is_file():
            self._take_lost(run, final_path, closed.error or run.worker.error)
            return
        notes, onsets = notes_in_take(run.notes, run.onsets, start_s, end_s)
        save = TakeToSave(
            session_id=run.practice.session_id(),
            audio_path=final_path,
            notes=notes,
            onsets=onsets,
            duration_s=max(0.0, end_s - start_s),
            sample_rate=int(run.worker.sample_rate),
            genre=run.plan.genre,
            note_text=problem,
            analysis_cpu_s=span.analysis_cpu_s if span is not None else 0.0,
            started_at=take.started_at,
            tempo_bpm=run.plan.target_tempo_bpm,
            input_check=span.input if span is not None else None,
        )
        settings, reference, ctx = run.settings, run.reference, self.ctx

        def failed(exc: BaseException) -> None:
            # The take and its scores stay on disk beside the audio; the next start stores them.
            self.problem.emit(
                f"The take was recorded to {final_path} but could not be saved in your "
                f"history yet ({failure_reason(exc)}). It is kept with its scores and saved "
                "the next time Etude starts."
            )

        def store() -> SavedTake:
            # On the database worker: while another program holds the database's write lock,
            # this keeps trying (jobs behind it wait, in order, as they would for the lock).
            database = ctx.database
            if database is None:
                raise RuntimeError("the database is not open")
            return save_live_take_when_free(
                database.transaction,
                save,
                settings,
                reference,
                waiting=lambda message: self._store_waiting.emit(str(final_path), message),
                stop=ctx.stopping,
            )

        self.ctx.db.submit_raw(
            "save take", store, lambda saved: self._take_stored(run, saved), failed
        )

    def _take_waiting(self, path: str, message: str) -> None:
        self._waiting_takes.add(path)
        self.status_changed.emit("Waiting for the database…")
        self.problem.emit(message)

    def _take_lost(self, run: _Run, final_path: Path, error: BaseException | None) -> None:
        # A row must never point at a file that is not there; the .part is repaired and
        # attached as a recovered take at the next start-up.
        from audio.recorder import DISK_FULL, PART_SUFFIX

        part = final_path.with_name(final_path.name + PART_SUFFIX)
        # The recorder's error never names the .part: it is named here, once.
        text = (
            "The take could not be finished"
            + (f" ({error})" if error is not None else "")
            + (
                f". The audio recorded so far is kept in {part}; it will be repaired and "
                "added to your history the next time Etude starts"
                + (" with free space on that disk." if DISK_FULL in str(error) else ".")
                if part.is_file()
                else "; no audio of it reached the disk."
            )
        )
        if run.input_lost:
            text = f"{text}\n\n{run.input_lost}"
        self.status_changed.emit("The take could not be saved.")
        self.problem.emit(text)

    def _take_stored(self, run: _Run, saved: SavedTake) -> None:
        name = saved.label
        if saved.performance.audio_path in self._waiting_takes:
            self._waiting_takes.discard(saved.performance.audio_path)
            self.notice.emit(f"The database is free again: {name} is saved, with its scores.")
        if run.input_lost:
            self.problem.emit(f"{run.input_lost} Your take was kept up to that moment and saved.")
        elif saved.analysis is None:
            self.problem.emit(
                f"{name} was saved in your history, but {saved.problem or 'it has no scores'}."
            )
        if self._run is run:
            self.status_changed.emit("Take saved.")
        self.take_saved.emit(saved)
        self.ctx.events.take_saved.emit(saved)

    # -- the repaint tick --------------------------------------------------------------------

    def poll(self) -> list[Record]:
        """Drain what the worker published since the last call (the page's repaint timer calls
        this), and notice an input that stopped by itself."""
        run = self._run
        if run is None or not run.opened:
            return []
        records = self._consume(run, run.worker.outbox.drain())
        error = run.worker.error
        if error is not None:
            self._input_lost(run, error)
        elif not run.worker.is_alive():
            self.stop("The recording ended.")
        return records

    def _consume(self, run: _Run, records: list[Record]) -> list[Record]:
        for r in records:
            if isinstance(r, PitchFrame):
                run.practice.hops += 1
            elif isinstance(r, Note):
                run.notes.append(r)
            elif isinstance(r, Onset):
                run.onsets.append(r)
        return records

    def _input_lost(self, run: _Run, error: BaseException) -> None:
        run.input_lost = f"The input stopped: {error}"
        # Pulled out under a sound server (audio.sources.InputMovedError): listening starts
        # again on it, for the same piece, once the server has it back.
        source_name = getattr(error, "source_name", None)
        if isinstance(source_name, str):
            run.input_lost += " Etude listens again when it is plugged back in."
        recording = run.take is not None
        if recording:
            # The take's own message tells the student once it is saved (or could not be).
            self._finish_take(run, "input stopped during this take")
        self.stop("Input lost.")
        if not recording:
            self.problem.emit(run.input_lost)
        if isinstance(source_name, str):
            self._input_awaited = (source_name, run.plan, run.reference)
            self._input_back_timer.start()

    def _stop_waiting_for_input(self) -> None:
        self._input_awaited = None
        self._input_back_timer.stop()

    def _check_input_back(self) -> None:
        awaited = self._input_awaited
        if awaited is None or self._run is not None:
            self._stop_waiting_for_input()
            return
        if self._probing:
            return
        self._probing = True
        from audio.pulsewatch import source_present

        def answered(back: bool) -> None:
            self._probing = False
            again = back and self._input_awaited is awaited and self._run is None
            if again and self.start(awaited[1], awaited[2]):
                self.notice.emit("The microphone is back: listening again.")

        def failed(_exc: BaseException) -> None:
            self._probing = False

        self.ctx.audio.submit(
            "is the microphone back", lambda: source_present(awaited[0]), answered, failed
        )

    # -- metronome ---------------------------------------------------------------------------

    def set_metronome(self, on: bool) -> None:
        """Click at the target tempo while listening (visual only without an output)."""
        self._metronome_on = on
        run = self._run
        if on and run is not None and run.opened:
            self._start_metronome(run)
        elif not on:
            self._stop_metronome()

    @staticmethod
    def _tempo_bpm(run: _Run) -> int | None:
        """The session's tempo: the plan's target, else the reference's, else None."""
        reference = run.reference
        return run.plan.target_tempo_bpm or (
            round(reference.tempo_bpm) if reference is not None and reference.tempo_bpm else None
        )

    def _start_metronome(self, run: _Run) -> None:
        bpm = self._tempo_bpm(run)
        if not bpm:
            self.status_changed.emit("Metronome: set a target tempo in the session form.")
            return
        self.metronome_changed.emit(float(bpm))
        if self._click is not None:
            return
        from desktop.widgets.metronome import ClickStream

        click = ClickStream(float(bpm))
        self._click = click

        def no_output(exc: BaseException) -> None:
            if self._click is click:
                self._click = None
            self.status_changed.emit(f"Metronome is visual only (no sound output: {exc}).")

        self.ctx.audio.submit("start the metronome", click.start, None, no_output)

    def _stop_metronome(self) -> None:
        self.metronome_changed.emit(None)
        click, self._click = self._click, None
        if click is None:
            return

        def failed(exc: BaseException) -> None:
            # An output that vanished (a USB interface unplugged) cannot be closed cleanly;
            # that must not keep the input, the take or the session from being stopped.
            self.status_changed.emit(f"The metronome's output could not be closed: {exc}")

        self.ctx.audio.submit("stop the metronome", click.stop, None, failed)


def _input_problem(exc: BaseException) -> str:
    return (
        f"{exc}\n\nHistory, progress and analysing a recording (drag it onto this window) "
        "still work."
    )
