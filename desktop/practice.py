"""The practice page: session form, Start/Stop (Space), Record take (R), live views, takes.

Layout only: the session and take lifecycle lives in :class:`PracticeController`, which this
page drives and listens to. The page drains the analysis worker's outbox through the controller
from a QTimer (50 fps) and repaints once per tick, however many blocks arrived.
"""

from __future__ import annotations

import time
import uuid
from collections import deque
from dataclasses import asdict, replace
from typing import TYPE_CHECKING

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

from audio.records import PitchFrame, Record
from desktop.context import AppContext
from desktop.help import add_close_keys
from desktop.player import Player
from desktop.practice_controller import PracticeController, SourceFactory, microphone_source
from desktop.session_form import SessionForm
from desktop.settings import Preferences
from desktop.takes import TakesList
from desktop.usecases.messages import failure_reason
from desktop.usecases.plan import SessionPlan
from desktop.usecases.sessions import recent_pieces
from desktop.usecases.takes import SavedTake
from desktop.widgets.level import LevelMeter
from desktop.widgets.metronome import BeatLight
from desktop.widgets.pitch_view import PitchView
from desktop.widgets.take_card import TakeCard
from desktop.widgets.take_indicator import TakeIndicator
from desktop.widgets.tuner import TunerWidget

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from audio.playback import Playback
    from audio.reference import Reference
    from audio.worker import AnalysisWorker
    from desktop.usecases.assignments import StudentAssignment
    from storage.records import SessionRecord

REPAINT_HZ = 50
PIECE_LABEL = "the piece"
__all__ = ["MessageBar", "PracticePage", "microphone_source"]


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
    take_saved = Signal(object)  # SavedTake
    problem = Signal(str)
    live_changed = Signal(bool)  # listening started (True) or ended (False)

    def __init__(self, ctx: AppContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.controller = PracticeController(ctx, self)
        self.plan = SessionPlan()
        self.reference: Reference | None = None
        self.latencies_ms: deque[float] = deque(maxlen=20000)

        self.messages = MessageBar()
        self.plan_label = QLabel(self.plan.describe())
        self.plan_label.setStyleSheet("font-weight: bold;")
        self.new_button = QPushButton("New session…")
        self.new_button.clicked.connect(self.edit_plan)
        self.player = Player(ctx, self)
        self._piece_playing = False  # asked to play the piece, not stopped since
        self.hear_button = QPushButton("Hear the piece")
        self.hear_button.setToolTip(
            "Play the reference at the target tempo with the metronome, before you play it."
        )
        self.hear_button.setEnabled(False)
        self.hear_button.clicked.connect(self.toggle_hear_piece)
        self.player.stopped.connect(self._player_changed)
        self.player.failed.connect(self.show_problem)
        self.start_button = QPushButton("Start practice  [Space]")
        self.start_button.clicked.connect(self.toggle_practice)
        # Enabled once the database is open and a profile is chosen (a second after start-up).
        self.start_button.setEnabled(False)
        ctx.events.profile_changed.connect(lambda p: self.start_button.setEnabled(p is not None))
        # A session belongs to one student: choosing another one ends it.
        ctx.events.profile_changed.connect(lambda _p: self.end_session())
        # Stop only pauses; the session (and its list of takes) ends by this button, on quitting
        # or after a long pause (PracticeController.end).
        self.end_button = QPushButton("End session")
        self.end_button.setToolTip(
            "Finish this session. Stop (Space) only pauses it: its takes stay together."
        )
        self.end_button.setEnabled(False)
        self.end_button.clicked.connect(self.end_session)
        self.record_button = QPushButton("Record take  [R]")
        self.record_button.setEnabled(False)
        self.record_button.clicked.connect(self.toggle_take)
        self.metronome_box = QCheckBox("Metronome")
        self.metronome_box.setChecked(ctx.prefs.metronome_on)
        self.metronome_box.toggled.connect(self._metronome_toggled)
        self.count_in_box = QCheckBox("Count-in")
        self.count_in_box.setToolTip(
            "Record take (R) counts one bar at the session's tempo before recording."
        )
        self.count_in_box.setChecked(ctx.prefs.count_in_on)
        self.count_in_box.toggled.connect(self._count_in_toggled)
        self.beat = BeatLight()
        self.take_indicator = TakeIndicator()
        top = QHBoxLayout()
        top.addWidget(self.plan_label, 1)
        top.addWidget(self.new_button)
        top.addWidget(self.hear_button)
        top.addWidget(self.start_button)
        top.addWidget(self.end_button)
        top.addWidget(self.record_button)
        top.addWidget(self.take_indicator)
        top.addWidget(self.metronome_box)
        top.addWidget(self.count_in_box)
        top.addWidget(self.beat)

        self.pitch_view = PitchView()
        self.tuner = TunerWidget()
        self.level = LevelMeter()
        # One line on what is wrong with the input, while it is (hum, clipping, too quiet...).
        self.input_notice = QLabel("")
        self.input_notice.setWordWrap(True)
        self.input_notice.setVisible(False)
        self.status = QLabel("Not listening.")
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

        c = self.controller
        c.live_changed.connect(self._live_changed)
        c.session_held.connect(self._session_held)
        c.recording_changed.connect(self._recording_changed)
        c.status_changed.connect(self.status.setText)
        c.problem.connect(self.show_problem)
        c.notice.connect(lambda text: self.messages.show_message(text, "info"))
        c.records_drained.connect(self._show_records)
        c.metronome_changed.connect(self._metronome_changed)
        c.count_in_changed.connect(self._count_in_changed)
        c.practice_started.connect(self._practice_started)
        c.take_started.connect(lambda _path: self.pitch_view.reanchor_reference())
        c.take_saved.connect(self._take_saved)
        # The page's own signals are the controller's, for the window, tests and benchmarks.
        c.practice_started.connect(self.practice_started)
        c.practice_stopped.connect(self.practice_stopped)
        c.take_started.connect(self.take_started)
        c.take_saved.connect(self.take_saved)
        c.live_changed.connect(self.live_changed)

    # -- state -------------------------------------------------------------------------------

    @property
    def source_factory(self) -> SourceFactory:
        return self.controller.source_factory

    @source_factory.setter
    def source_factory(self, factory: SourceFactory) -> None:
        self.controller.source_factory = factory

    @property
    def is_live(self) -> bool:
        return self.controller.is_live

    @property
    def is_recording(self) -> bool:
        return self.controller.is_recording

    @property
    def session(self) -> SessionRecord | None:
        return self.controller.session

    @property
    def worker(self) -> AnalysisWorker | None:
        return self.controller.worker

    def apply_preferences(self, prefs: Preferences) -> None:
        self.tuner.tolerance_cents = prefs.pitch_tolerance_cents
        self.pitch_view.tolerance_cents = prefs.pitch_tolerance_cents
        self.card.set_tolerances(prefs.pitch_tolerance_cents, prefs.timing_tolerance_ms)

    def edit_plan(self) -> None:
        """The New-session form, with the teacher's assignments and the profile's recent
        pieces (both read in one database operation before the form opens)."""
        if self.is_live:
            return  # a session's plan is fixed while it runs
        profile = self.ctx.profile
        if profile is None:
            self._open_form([])
            return
        from desktop.usecases.assignments import student_assignments

        pid = profile.id

        def load(s: Session) -> tuple[list[StudentAssignment], list[SessionPlan]]:
            return student_assignments(s, pid), recent_pieces(s, pid)

        self.ctx.db.submit("new-session form", load, lambda got: self._open_form(*got))

    def _open_form(
        self, assignments: list[StudentAssignment], recent: list[SessionPlan] | None = None
    ) -> None:
        form = SessionForm(self.plan, self, assignments)
        form.set_recent(recent or [])
        add_close_keys(form)
        if form.exec():
            if form.chosen_assignment is not None:
                self.start_assignment(form.chosen_assignment)
            else:
                self.set_plan(form.plan())

    def start_assignment(self, assignment_id: uuid.UUID) -> None:
        """One click: the assignment's piece, tempo and reference become the plan, and practice
        starts; the session is linked to the assignment."""
        from desktop.usecases.assignments import plan_for_assignment

        folder = self.ctx.data_dir / "assignments"

        def ready(plan: SessionPlan) -> None:
            self.set_plan(plan)
            if self.plan is plan:
                self.start_practice()

        self.ctx.db.submit(
            "assignment plan",
            lambda s: plan_for_assignment(s, assignment_id, folder),
            ready,
            lambda _exc: self.show_problem(
                "That assignment cannot be started here: sync again, then pick it once more."
            ),
        )

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
                self.show_problem(f"That reference piece cannot be used: {failure_reason(exc)}")
                return
        if plan != self.plan:
            self.end_session()  # a different piece or plan is a new session
        self.plan = plan
        self.reference = reference
        self.plan_label.setText(plan.describe())
        self._draw_reference()
        self._player_changed()
        self.messages.clear_message()

    def _draw_reference(self) -> None:
        ref = self.reference
        self.pitch_view.set_reference(
            [(n.onset_s, n.offset_s, n.midi) for n in ref.notes] if ref else []
        )

    def show_problem(self, text: str) -> None:
        self.messages.show_message(text, "error")
        self.problem.emit(text)

    # -- what the buttons and keys do --------------------------------------------------------

    def toggle_practice(self) -> None:
        if self.is_live:
            self.stop_practice()
        else:
            self.start_practice()

    def toggle_hear_piece(self) -> None:
        if self._piece_playing:
            self.player.stop()
        else:
            self.hear_piece()

    def hear_piece(self) -> bool:
        """Play the reference at the plan's tempo (else the file's) with metronome clicks.
        False when there is no reference or the student is playing."""
        reference = self.reference
        if reference is None or self.is_live:
            return False
        tempo = self.plan.target_tempo_bpm

        def make() -> Playback:
            from audio.playback import Playback
            from audio.preview import render_reference

            preview = render_reference(reference, tempo_bpm=tempo, metronome=True)
            return Playback(preview.samples, preview.sample_rate_hz)

        self.player.play(PIECE_LABEL, make)
        self._piece_playing = True
        self._player_changed()
        return True

    def _player_changed(self, label: str | None = None) -> None:
        if label == PIECE_LABEL:  # the player's stopped signal: the piece ended or was stopped
            self._piece_playing = False
        self.hear_button.setText("Stop the piece" if self._piece_playing else "Hear the piece")
        self.hear_button.setEnabled(self.reference is not None and not self.is_live)

    def start_practice(self) -> bool:
        """Start listening; False (with a message) when the input cannot be set up."""
        if self.is_live:
            return True
        if self._piece_playing:
            self.player.stop()  # the microphone would hear it
        if self.controller.start(self.plan, self.reference):
            self.messages.clear_message()
            return True
        return False

    def stop_practice(self, reason: str | None = None) -> None:
        """Stop listening (Space): the session stays open and Start continues it."""
        self.controller.stop(reason)

    def end_session(self, reason: str | None = None) -> None:
        """End the open session (``practice_stopped`` once its end is stored)."""
        self.controller.end(reason)

    def toggle_take(self) -> None:
        """R: count in and record (or record at once without count-in); R again cancels the
        count-in or ends the take."""
        if self.controller.cancel_count_in():
            return
        if self.is_recording:
            self.stop_take()
        elif self.ctx.prefs.count_in_on:
            self.controller.count_in_take()
        else:
            self.start_take()

    def start_take(self) -> bool:
        return self.controller.start_take()

    def stop_take(self, problem: str | None = None) -> bool:
        """End the take; it is finished and saved in the background (``take_saved``, or a
        message saying where its audio is kept when its file could not be finished)."""
        return self.controller.stop_take(problem)

    def shutdown(self) -> None:
        """Called when the window closes: a take in progress is kept, the session ended."""
        self.player.stop()
        self.controller.end("Closed.")

    # -- what the controller reports ---------------------------------------------------------

    def _live_changed(self, live: bool) -> None:
        self._label_start_button()
        self._player_changed()
        self.record_button.setEnabled(live)
        self.new_button.setEnabled(not live)
        # A reading from before Stop is not what the student plays now.
        self.tuner.clear()
        if live:
            self.pitch_view.reset()
            self._draw_reference()
            self.timer.start()
        else:
            self.timer.stop()
            self.pitch_view.repaint_now()

    def _session_held(self, held: bool) -> None:
        self.end_button.setEnabled(held)
        self._label_start_button()

    def _label_start_button(self) -> None:
        if self.controller.is_live:
            text = "Stop  [Space]"
        elif self.controller.has_session:
            text = "Continue session  [Space]"
        else:
            text = "Start practice  [Space]"
        self.start_button.setText(text)

    def _recording_changed(self, recording: bool) -> None:
        self.record_button.setText("Stop take  [R]" if recording else "Record take  [R]")
        if recording:
            self.take_indicator.show_recording(0.0)
        else:
            self.take_indicator.clear()

    def _count_in_changed(self, beat: int | None) -> None:
        if beat is None:
            if self.take_indicator.state == "counting":
                self.take_indicator.clear()
            self.record_button.setText("Record take  [R]")
            return
        from desktop.practice_controller import BEATS_PER_BAR

        self.record_button.setText("Cancel count-in  [R]")
        self.take_indicator.show_count(beat, BEATS_PER_BAR)
        if beat > 0:
            self.beat.flash(accent=beat == 1)

    def _count_in_toggled(self, on: bool) -> None:
        if self.ctx.prefs.count_in_on != on:
            self.ctx.save_preferences(replace(self.ctx.prefs, count_in_on=on))

    def _practice_started(self, session: SessionRecord) -> None:
        self.takes.show_session(session.id)

    def _take_saved(self, saved: SavedTake) -> None:
        if saved.analysis is not None:
            self.card.show_analysis(asdict(saved.analysis), title=saved.label)
        self.takes.show_session(saved.performance.session_id)

    def _metronome_toggled(self, on: bool) -> None:
        if self.ctx.prefs.metronome_on != on:
            self.ctx.save_preferences(replace(self.ctx.prefs, metronome_on=on))
        self.controller.set_metronome(on)

    def _metronome_changed(self, bpm: float | None) -> None:
        if bpm is None:
            self.beat.stop()
        else:
            self.beat.start(bpm)

    # -- the repaint tick --------------------------------------------------------------------

    def tick(self) -> None:
        self._show_records(self.controller.poll())
        elapsed = self.controller.take_elapsed_s
        if elapsed is not None:
            self.take_indicator.show_recording(elapsed)
        self.level.set_level(self.controller.level_db)
        notice = self.controller.input_notice
        self.input_notice.setText(notice or "")
        self.input_notice.setVisible(notice is not None)
        if self.pitch_view.repaint_now():
            cap = self.pitch_view.last_capture_time_s
            if cap is not None:
                # Latency to the moment the new data is handed to the scene; the paint itself
                # follows in the same event-loop pass (measured separately by the benchmark).
                self.latencies_ms.append((time.perf_counter() - cap) * 1000.0)

    def _show_records(self, records: list[Record]) -> None:
        self.pitch_view.add_records(records)
        if records and not self.timer.isActive():
            self.pitch_view.repaint_now()  # the last records after Stop: no tick will come
        if self.is_live:
            self.tuner.follow([r for r in records if isinstance(r, PitchFrame)])
