"""The practice page: session form, Start/Stop (Space), Record take (R), live views, takes.

Threads: the audio source's callback and the analysis worker belong to ``audio/``; this page
only drains the worker's outbox from a QTimer (50 fps) and repaints once per tick, however many
blocks arrived. Saving a take (scoring, MIDI, database rows) is one operation on the database
worker; the card then shows the row as stored.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from audio.records import Note, Onset, PitchFrame
from desktop import ops
from desktop.context import AppContext
from desktop.session_form import SessionForm, SessionPlan
from desktop.settings import Preferences
from desktop.takes import TakesList
from desktop.widgets.level import LevelMeter
from desktop.widgets.metronome import BeatLight, ClickStream
from desktop.widgets.pitch_view import PitchView
from desktop.widgets.take_card import TakeCard
from desktop.widgets.tuner import TunerWidget

REPAINT_HZ = 50
SourceFactory = Callable[[Preferences], Any]


def microphone_source(prefs: Preferences) -> Any:
    """The default source: the chosen input device with the chosen format."""
    from audio.sources import MicrophoneSource

    return MicrophoneSource(
        device=prefs.input_device or None,
        sample_rate=prefs.sample_rate_hz,
        block_frames=prefs.block_size_samples,
        latency=prefs.latency,  # type: ignore[arg-type]
    )


class MessageBar(QLabel):
    """A message the student can read without a modal box getting in the way."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWordWrap(True)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.hide()

    def show_message(self, text: str, kind: str = "error") -> None:
        colours = {"error": "#f8d7da;color:#721c24", "info": "#d1ecf1;color:#0c5460"}
        self.setStyleSheet(f"background:{colours.get(kind, colours['info'])};padding:6px;")
        self.setText(text)
        self.show()

    def clear_message(self) -> None:
        self.setText("")
        self.hide()


class PracticePage(QWidget):
    """Live practice. ``source_factory(prefs)`` opens the input (the microphone by default)."""

    practice_started = Signal(object)  # SessionRecord
    practice_stopped = Signal(object)  # SessionRecord after end_session
    take_started = Signal(str)  # path being recorded
    take_saved = Signal(object)  # {"performance": PerformanceRecord, "analysis": AnalysisRecord}
    problem = Signal(str)
    live_changed = Signal(bool)  # listening started (True) or ended (False)

    def __init__(self, ctx: AppContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.source_factory: SourceFactory = microphone_source
        self.plan = SessionPlan()
        self.session: Any = None  # SessionRecord while practising
        self.worker: Any = None
        self.reference: Any = None
        self._take_path: Path | None = None
        self._take_start_s = 0.0
        self._take_started_at: datetime | None = None
        # Everything played since Start; a take picks its notes by time when it ends, so notes
        # that finish just after the R key still belong to it.
        self._live_notes: list[Note] = []
        self._live_onsets: list[Onset] = []
        self._take_count = 0
        self._hops = 0
        self._click: ClickStream | None = None
        self._stopping = False
        self._run = 0  # counts Starts, so a late database answer finds the run it belongs to
        self.latencies_ms: deque[float] = deque(maxlen=20000)

        self.messages = MessageBar()
        self.plan_label = QLabel(self.plan.describe())
        self.plan_label.setStyleSheet("font-weight: bold;")
        self.new_button = QPushButton("New session…")
        self.new_button.clicked.connect(self.edit_plan)
        self.start_button = QPushButton("Start practice  [Space]")
        self.start_button.clicked.connect(self.toggle_practice)
        # Enabled once the database is open and a profile is chosen (a second after start-up).
        self.start_button.setEnabled(False)
        ctx.events.profile_changed.connect(lambda p: self.start_button.setEnabled(p is not None))
        self.record_button = QPushButton("Record take  [R]")
        self.record_button.setEnabled(False)
        self.record_button.clicked.connect(self.toggle_take)
        self.metronome_box = QCheckBox("Metronome")
        self.metronome_box.setChecked(ctx.prefs.metronome_on)
        self.metronome_box.toggled.connect(self._metronome_toggled)
        self.beat = BeatLight()
        top = QHBoxLayout()
        top.addWidget(self.plan_label, 1)
        top.addWidget(self.new_button)
        top.addWidget(self.start_button)
        top.addWidget(self.record_button)
        top.addWidget(self.metronome_box)
        top.addWidget(self.beat)

        self.pitch_view = PitchView()
        self.tuner = TunerWidget()
        self.level = LevelMeter()
        self.status = QLabel("Not listening.")
        # One line on what is wrong with the input, while it is (hum, clipping, too quiet...).
        self.input_notice = QLabel("")
        self.input_notice.setWordWrap(True)
        self.input_notice.setVisible(False)
        side = QVBoxLayout()
        side.addWidget(self.tuner, 1)
        side.addWidget(self.level)
        side.addWidget(self.input_notice)
        side.addWidget(self.status)
        live = QHBoxLayout()
        live.addWidget(self.pitch_view, 3)
        live.addLayout(side, 1)
        live_box = QWidget()
        live_box.setLayout(live)

        self.card = TakeCard()
        self.takes = TakesList(ctx)
        bottom = QSplitter(Qt.Orientation.Horizontal)
        bottom.addWidget(self.card)
        bottom.addWidget(self.takes)
        bottom.setStretchFactor(0, 3)
        bottom.setStretchFactor(1, 2)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(live_box)
        split.addWidget(bottom)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)

        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.messages)
        lay.addWidget(split, 1)

        self.timer = QTimer(self)
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(1000 // REPAINT_HZ)
        self.timer.timeout.connect(self.tick)

        sc = QShortcut(QKeySequence(Qt.Key.Key_Space), self)
        sc.setContext(Qt.ShortcutContext.WindowShortcut)
        sc.activated.connect(self.toggle_practice)
        sc = QShortcut(QKeySequence(Qt.Key.Key_R), self)
        sc.setContext(Qt.ShortcutContext.WindowShortcut)
        sc.activated.connect(self.toggle_take)
        self.apply_preferences(ctx.prefs)
        ctx.events.preferences_changed.connect(self.apply_preferences)

    # -- state -------------------------------------------------------------------------------

    @property
    def is_live(self) -> bool:
        return self.worker is not None

    @property
    def is_recording(self) -> bool:
        return self._take_path is not None

    def apply_preferences(self, prefs: Preferences) -> None:
        self.tuner.tolerance_cents = prefs.pitch_tolerance_cents
        self.pitch_view.tolerance_cents = prefs.pitch_tolerance_cents
        self.card.timeline.tolerance_cents = prefs.pitch_tolerance_cents
        self.card.timeline.timing_tolerance_ms = prefs.timing_tolerance_ms

    def edit_plan(self) -> None:
        form = SessionForm(self.plan, self)
        if form.exec():
            self.set_plan(form.plan())

    def set_plan(self, plan: SessionPlan) -> None:
        """Use ``plan`` for the next Start. Loads the reference now so a bad file is reported
        before the student starts playing."""
        reference = None
        if plan.reference_path is not None:
            from audio.reference import ReferenceError, load_reference

            try:
                reference = load_reference(
                    plan.reference_path, transpose_semitones=self.ctx.prefs.transpose_semitones
                )
            except ReferenceError as exc:
                self.show_problem(f"That reference piece cannot be used: {exc}")
                return
        self.plan = plan
        self.reference = reference
        self.plan_label.setText(plan.describe())
        self.pitch_view.set_reference(
            [(n.onset_s, n.offset_s, n.midi) for n in reference.notes] if reference else []
        )
        self.messages.clear_message()

    def show_problem(self, text: str) -> None:
        self.messages.show_message(text, "error")
        self.problem.emit(text)

    # -- practice ----------------------------------------------------------------------------

    def toggle_practice(self) -> None:
        if self.is_live:
            self.stop_practice()
        else:
            self.start_practice()

    def start_practice(self) -> bool:
        if self.is_live:
            return True
        if self.ctx.profile is None:
            self.show_problem("Choose or create a profile first (top of the window).")
            return False
        from audio.sources import AudioUnavailableError
        from audio.worker import AnalysisWorker

        prefs = self.ctx.prefs
        try:
            source = self.source_factory(prefs)
            settings = prefs.analysis_settings(
                float(self.plan.target_tempo_bpm) if self.plan.target_tempo_bpm else None
            )
            worker = AnalysisWorker(source, settings, reference=self.reference)
            worker.start()
        except (AudioUnavailableError, ValueError, OSError) as exc:
            self.show_problem(
                f"{exc}\n\nHistory, progress and analysing a recording (drag it onto this "
                "window) still work."
            )
            return False
        self.messages.clear_message()
        self.worker = worker
        self._run += 1
        self.session = None  # the new one arrives from the database worker
        self._hops = 0
        self._live_notes = []
        self._live_onsets = []
        self.pitch_view.reset()
        self.pitch_view.set_reference(
            [(n.onset_s, n.offset_s, n.midi) for n in self.reference.notes]
            if self.reference
            else []
        )
        self.start_button.setText("Stop practice  [Space]")
        self.record_button.setEnabled(True)
        self.new_button.setEnabled(False)
        self.status.setText("Listening…")
        self.timer.start()
        self.live_changed.emit(True)
        self._metronome_toggled(self.metronome_box.isChecked())
        profile_id = self.ctx.profile.id  # type: ignore[attr-defined]
        plan = self.plan
        run = self._run
        open_sessions = self.ctx.open_sessions
        self.ctx.db.submit(
            "start session",
            lambda s: ops.start_session(s, profile_id, plan, open_sessions),
            lambda session: self._session_created(session, run),
            lambda exc: self._session_failed(exc, run),
        )
        return True

    def _session_created(self, session: Any, run: int | None = None) -> None:
        if run is not None and run != self._run:
            # Stop and Start again before the database answered: this session belongs to a
            # run that has already ended; end it instead of adopting it.
            self.ctx.db.submit(
                "end session",
                lambda s: ops.finish_session(s, session.id, 0),
                self._late_session_ended,
            )
            return
        self.session = session
        if not self.is_live:
            # Stopped before the database answered: end the session now, or it would stay
            # "active" until the next start-up marks it abandoned.
            hops = self._hops
            self.ctx.db.submit(
                "end session",
                lambda s: ops.finish_session(s, session.id, hops),
                self._session_ended,
            )
            return
        self.ctx.events.session_changed.emit(session)
        self.takes.show_session(session.id)
        self.practice_started.emit(session)

    def _late_session_ended(self, session: Any) -> None:
        self.ctx.open_sessions.discard(session.id)
        self.ctx.events.session_changed.emit(session)

    def _session_failed(self, exc: BaseException, run: int | None = None) -> None:
        if run is not None and run != self._run:
            return  # an earlier run's session; the running one is not affected
        self._shutdown_audio()
        self.show_problem(f"The session could not be started: {exc}")

    def stop_practice(self, reason: str | None = None) -> None:
        if not self.is_live or self._stopping:
            return
        self._stopping = True
        try:
            if self.is_recording:
                self.stop_take()
            self.tick_drain_only()  # count what arrived since the last frame
            self.pitch_view.repaint_now()
            chunks = self._hops
            self._shutdown_audio()
        finally:
            self._stopping = False
        self.status.setText(reason or "Stopped.")
        if self.session is not None:
            session_id = self.session.id
            self.ctx.db.submit(
                "end session",
                lambda s: ops.finish_session(s, session_id, chunks),
                self._session_ended,
            )

    def _session_ended(self, session: Any) -> None:
        # Called once the end is committed: from now on a crash leaves nothing to recover.
        self.ctx.open_sessions.discard(session.id)
        self.session = session
        self.ctx.events.session_changed.emit(session)
        self.practice_stopped.emit(session)

    def _shutdown_audio(self) -> None:
        self.timer.stop()
        self._stop_metronome()
        worker, self.worker = self.worker, None
        if worker is not None:
            worker.stop()
        self.start_button.setText("Start practice  [Space]")
        self.record_button.setEnabled(False)
        self.record_button.setText("Record take  [R]")
        self.new_button.setEnabled(True)
        if worker is not None:
            self.live_changed.emit(False)

    # -- takes -------------------------------------------------------------------------------

    def toggle_take(self) -> None:
        if self.is_recording:
            self.stop_take()
        else:
            self.start_take()

    def start_take(self) -> bool:
        if not self.is_live or self.is_recording:
            return False
        if self.session is None:
            self.show_problem("The session is still being set up; press R again in a moment.")
            return False
        self._take_count += 1
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        path = self.ctx.recordings_dir / (
            f"take-{stamp}-{str(self.session.id)[:8]}-{self._take_count:02d}.flac"
        )
        try:
            self.worker.start_take(path)
        except Exception as exc:
            self.show_problem(f"The take could not be recorded: {exc}")
            return False
        self._take_path = path
        self._take_start_s = self._stream_s
        self.pitch_view.reanchor_reference()  # the worker's follower starts the piece again too
        # Saving waits behind other database work; the take is dated when it was played.
        self._take_started_at = datetime.now(UTC)
        self.record_button.setText("Stop take  [R]")
        self.status.setText("Recording a take…")
        self.take_started.emit(str(path))
        return True

    def stop_take(self, problem: str | None = None) -> bool:
        """End the take and queue saving it. False when its file could not be finished (the
        audio so far stays in its ``.part`` for the repair at the next start-up)."""
        if not self.is_recording:
            return False
        path = self._take_path
        self._take_path = None
        self.record_button.setText("Record take  [R]")
        worker = self.worker
        span = None
        close_error: BaseException | None = None
        try:
            if worker is not None:
                # The worker ends the take itself when its source fails; then only read it.
                if worker.recording:
                    worker.stop_take()
                span = worker.last_take
        except Exception as exc:
            close_error = exc
            problem = (problem or "") + f" Closing the take failed: {exc}"
        self.tick_drain_only()
        if span is not None and Path(span.path) != path:
            # The worker's newest finished take is an earlier one: this take never finished.
            span = None
        if span is not None:
            final_path = Path(span.path)
            start_s, end_s = span.start_s, span.end_s
        else:
            final_path = Path(str(path))
            start_s, end_s = self._take_start_s, self._stream_s
        if not final_path.is_file():
            # A row must never point at a file that is not there; the .part is repaired and
            # attached as a recovered take at the next start-up.
            from audio.recorder import PART_SUFFIX

            part = final_path.with_name(final_path.name + PART_SUFFIX)
            error = close_error or getattr(worker, "error", None)
            self.show_problem(
                "The take could not be finished"
                + (f" ({error})" if error is not None else "")
                + (
                    f". The audio recorded so far is kept in {part}; it will be repaired and "
                    "added to your history the next time Etude starts."
                    if part.is_file()
                    else "; no audio of it reached the disk."
                )
            )
            self.status.setText("The take could not be saved.")
            return False
        notes = ops.shift_notes(
            [n for n in self._live_notes if start_s - 1e-6 <= n.onset_s < end_s], start_s
        )
        onsets = ops.shift_onsets(
            [o for o in self._live_onsets if start_s - 1e-6 <= o.t_s < end_s], start_s
        )
        plan = self.plan
        reference = self.reference
        settings = self.ctx.prefs.analysis_settings(
            float(plan.target_tempo_bpm) if plan.target_tempo_bpm else None
        )
        take = ops.TakeToSave(
            session_id=self.session.id,
            audio_path=final_path,
            notes=notes,
            onsets=onsets,
            duration_s=max(0.0, end_s - start_s),
            sample_rate=self._sample_rate(),
            genre=plan.genre,
            note_text=problem,
            analysis_cpu_s=span.analysis_cpu_s if span is not None else 0.0,
            started_at=self._take_started_at,
            input_check=span.input if span is not None else None,
        )
        self.status.setText("Scoring the take…")

        def failed(exc: BaseException) -> None:
            self.show_problem(
                f"The take was recorded to {final_path} but could not be saved in your "
                f"history: {exc}"
            )

        self.ctx.db.submit(
            "save take",
            lambda s: ops.save_take(s, take, settings, reference),
            self._take_stored,
            failed,
        )
        return True

    def _sample_rate(self) -> int:
        src = getattr(self.worker, "source", None)
        return int(getattr(src, "sample_rate", 0) or self.ctx.prefs.sample_rate_hz)

    @property
    def _stream_s(self) -> float:
        return float(self.worker.position_s) if self.worker is not None else 0.0

    def _take_stored(self, saved: dict[str, Any]) -> None:
        analysis = saved["analysis"]
        perf = saved["performance"]
        if analysis is not None:
            self.card.show_analysis(
                ops.record_dict(analysis), title=f"Take {Path(perf.audio_path).name}"
            )
        else:
            self.show_problem(
                f"The take {Path(perf.audio_path).name} was saved in your history, but "
                f"{saved.get('problem') or 'it has no scores'}."
            )
        self.status.setText("Take saved." if self.is_live else self.status.text())
        self.takes.show_session(perf.session_id)
        self.take_saved.emit(saved)
        self.ctx.events.take_saved.emit(saved)

    # -- the repaint tick --------------------------------------------------------------------

    def tick_drain_only(self) -> None:
        if self.worker is None:
            return
        self._consume(self.worker.outbox.drain())

    def _consume(self, records: list[Any]) -> None:
        last_frame: PitchFrame | None = None
        for r in records:
            if isinstance(r, PitchFrame):
                self._hops += 1
                if r.voiced:
                    last_frame = r
            elif isinstance(r, Note):
                self._live_notes.append(r)
            elif isinstance(r, Onset):
                self._live_onsets.append(r)
        self.pitch_view.add_records(records)
        if last_frame is not None:
            self.tuner.set_reading(last_frame.target_midi, last_frame.cents)

    def tick(self) -> None:
        worker = self.worker
        if worker is None:
            return
        self._consume(worker.outbox.drain())
        self.level.set_level(getattr(worker, "latest_level_db", None))
        check = getattr(worker, "latest_input", None)
        notice = check.notice if check is not None else None
        self.input_notice.setText(notice or "")
        self.input_notice.setVisible(notice is not None)
        if self.pitch_view.repaint_now():
            cap = self.pitch_view.last_capture_time_s
            if cap is not None:
                # Latency to the moment the new data is handed to the scene; the paint itself
                # follows in the same event-loop pass (measured separately by the benchmark).
                self.latencies_ms.append((time.perf_counter() - cap) * 1000.0)
        error = getattr(worker, "error", None)
        if error is not None:
            self._device_lost(error)
        elif not worker.is_alive():
            self.stop_practice("The recording ended.")

    def _device_lost(self, error: BaseException) -> None:
        was_recording = self.is_recording
        msg = f"The input stopped: {error}"
        if was_recording:
            if not self.stop_take(problem="input stopped during this take"):
                # stop_take already told the student where the audio is.
                msg = f"{self.messages.text()}\n\n{msg}"
            else:
                msg += " Your take was kept up to that moment and saved."
        self.stop_practice("Input lost.")
        self.show_problem(msg)

    # -- metronome ---------------------------------------------------------------------------

    def _metronome_toggled(self, on: bool) -> None:
        if self.ctx.prefs.metronome_on != on:
            from dataclasses import replace

            self.ctx.save_preferences(replace(self.ctx.prefs, metronome_on=on))
        if on and self.is_live:
            self._start_metronome()
        else:
            self._stop_metronome()

    def _start_metronome(self) -> None:
        bpm = self.plan.target_tempo_bpm or (
            round(self.reference.tempo_bpm) if self.reference and self.reference.tempo_bpm else None
        )
        if not bpm:
            self.status.setText("Metronome: set a target tempo in the session form.")
            return
        self.beat.start(float(bpm))
        if self._click is None:
            click = ClickStream(float(bpm))
            try:
                click.start()
                self._click = click
            except Exception as exc:
                self.status.setText(f"Metronome is visual only (no sound output: {exc}).")

    def _stop_metronome(self) -> None:
        self.beat.stop()
        if self._click is not None:
            click, self._click = self._click, None
            try:
                click.stop()
            except Exception as exc:
                # An output that vanished (a USB interface unplugged) cannot be closed cleanly;
                # that must not keep the input, the take or the session from being stopped.
                self.status.setText(f"The metronome's output could not be closed: {exc}")

    def shutdown(self) -> None:
        """Called when the window closes: a take in progress is kept."""
        if self.is_live:
            self.stop_practice("Closed.")
