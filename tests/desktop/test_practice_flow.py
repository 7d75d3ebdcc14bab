"""The live practice flow end to end: real analysis worker on a real-time synthetic source,
a real take file, real SQLite rows, and the card showing what the rows hold."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import soundfile as sf

from desktop.usecases.plan import SessionPlan
from desktop.widgets.take_card import SCORE_FIELDS, format_value
from storage.sessions import get_complete_session_data, get_session, get_user_sessions
from tests.desktop.conftest import wait_idle
from tests.desktop.helpers import SCALE, scale_source


def _rows(window: Any, session_id: Any) -> tuple[Any, list[Any]]:
    with window.ctx.database.sessionmaker() as s:
        data = get_complete_session_data(s, session_id)
    return data.session, list(data.performances)


def test_start_record_stop_stores_the_take_and_the_card_shows_the_row(qtbot, main_window):
    page = main_window.practice
    page.set_plan(SessionPlan(piece_name="C major scale", genre=None, target_tempo_bpm=100))
    page.source_factory = lambda prefs: scale_source()

    with qtbot.waitSignal(page.practice_started, timeout=10_000):
        assert page.start_practice()
    assert page.is_live
    assert not main_window.profile_combo.isEnabled()  # no switching student mid-session
    assert page.start_take()
    # The tuner reads the notes as they are played (and "—" again in the silence after them).
    qtbot.waitUntil(lambda: page.tuner.reading_text() != "—", timeout=10_000)
    qtbot.waitUntil(
        lambda: page.worker is not None and page.worker.position_s >= 3.2, timeout=15_000
    )
    # The live view drew the contour: roughly 8 notes x 0.25 s of voiced frames at 187.5/s.
    assert page.pitch_view.drawn_points() > 200
    assert page.pitch_view.frames_painted > 50
    with qtbot.waitSignal(page.take_saved, timeout=20_000) as saved_sig:
        page.stop_take()
    with qtbot.waitSignal(page.practice_stopped, timeout=10_000):
        page.end_session()
    wait_idle(qtbot, main_window.ctx)
    assert main_window.profile_combo.isEnabled()

    saved = saved_sig.args[0]
    session, takes = _rows(main_window, saved.performance.session_id)
    assert session.status == "completed"
    assert session.piece_name == "C major scale"
    assert session.target_tempo == 100
    assert session.chunks_processed > 0
    assert session.duration_seconds is not None
    assert len(takes) == 1
    perf = takes[0].performance
    audio = Path(perf.audio_path)
    assert audio.is_file() and audio.suffix == ".flac"
    info = sf.info(str(audio))
    assert abs(info.frames / info.samplerate - perf.recording_duration) < 0.1
    assert perf.recording_duration > 3.0
    assert perf.midi_path and Path(perf.midi_path).is_file()

    (analysis,) = takes[0].analysis_results
    # The synthetic scale: 8 notes, E4 and A4 35 cents sharp, everything else in tune.
    assert analysis.total_notes_detected == len(SCALE)
    assert abs(analysis.pitch_accuracy - 6 / 8) < 1e-9
    # processing_time_ms counts the worker's analysis of the take's 3+ s, not only the scoring
    # (about 10 ms of CPU per audio second here; scoring alone takes a few ms).
    assert analysis.processing_time_ms >= 10
    fb = json.loads(analysis.feedback_json)
    assert len(fb["timeline"]) == len(SCALE)
    sharp = [e for e in fb["timeline"] if e["cents"] > 25]
    assert sorted(e["target_midi"] for e in sharp) == [64, 69]

    # The card shows exactly the stored row.
    for field, _label, kind in SCORE_FIELDS:
        shown = page.card.value_labels[field].text()
        assert shown == format_value(getattr(analysis, field), kind), field
    assert page.card.timeline.bars == len(SCALE)
    shown = page.card.feedback.text()
    for line in fb["strengths"] + fb["tips"]:
        assert line.replace("&", "&amp;") in shown
    # The two sharp notes, each named where it was played (no per-name average).
    off = dict(re.findall(r"The ([A-G]♯?\d) at \d:\d\d was (\d+) cents sharp\.", shown))
    assert set(off) == {"E4", "A4"}
    assert all(30 <= int(c) <= 40 for c in off.values()), off
    assert sorted(card_label.split()[0] for card_label in page.card.timeline.labels) == [
        "A4",
        "E4",
    ]

    # The takes list of the session shows the take.
    qtbot.waitUntil(lambda: len(page.takes.rows) == 1, timeout=5_000)
    started = perf.recording_started_at.astimezone().strftime("%H:%M")
    assert page.takes.tree.topLevelItem(0).text(0) == f"Take 1 · {started}"
    assert page.card.title.text() == f"Take 1 · {started}"


def test_device_lost_mid_take_keeps_the_take_and_says_so(qtbot, main_window):
    main_window.show()
    qtbot.waitExposed(main_window)
    page = main_window.practice
    assert not page.messages.isVisible()
    # The source dies 2.0 s in, as an unplugged microphone would.
    page.source_factory = lambda prefs: scale_source(fail_after_s=2.0)
    with qtbot.waitSignal(page.practice_started, timeout=10_000):
        assert page.start_practice()
    assert page.start_take()
    with qtbot.waitSignal(page.take_saved, timeout=20_000) as saved_sig:
        pass
    qtbot.waitUntil(lambda: not page.is_live, timeout=10_000)
    wait_idle(qtbot, main_window.ctx)
    text = page.messages.text()
    assert page.messages.isVisible()  # on screen, not only set
    assert text.startswith("The input stopped:")
    assert text.endswith("Your take was kept up to that moment and saved.")
    perf = saved_sig.args[0].performance
    info = sf.info(perf.audio_path)
    # Everything from the take's start up to the failure at 2.0 s is in the file (when the take
    # began depends on how fast the session was set up; on a loaded machine, up to a second).
    span = page.worker.last_take
    assert span is not None and span.path == Path(perf.audio_path)
    assert info.frames / info.samplerate == pytest.approx(2.0 - span.start_s, abs=0.03)
    assert info.frames / info.samplerate > 0.5
    assert "input stopped" in (perf.notes or "")
    assert not page.start_button.text().startswith("Stop")


def test_no_input_device_shows_a_message_and_the_rest_still_works(qtbot, main_window):
    from audio.sources import AudioUnavailableError

    page = main_window.practice

    def no_device(prefs: Any) -> Any:
        raise AudioUnavailableError("No microphone or other input device was found.")

    page.source_factory = no_device
    assert not page.start_practice()
    assert "No microphone" in page.messages.text()
    assert "still work" in page.messages.text()
    assert not page.is_live
    # History and progress still open and load.
    main_window.history.reload()
    win = main_window.open_progress()
    with qtbot.waitSignal(win.drawn, timeout=10_000):
        pass


def test_a_reference_piece_draws_bars_and_the_card_marks_a_late_note(qtbot, main_window, tmp_path):
    import mido

    from audio.sources import SyntheticSource, SynthNote, render_notes
    from desktop.session_form import SessionForm

    # The reference: the C major scale, a note every 0.3 s (120 BPM, 480 ticks per beat).
    ref = tmp_path / "scale.mid"
    mid = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack()
    mid.tracks.append(track)
    track.append(mido.MetaMessage("set_tempo", tempo=500_000))
    for m in SCALE:
        track.append(mido.Message("note_on", note=m, velocity=80, time=0))
        track.append(mido.Message("note_off", note=m, velocity=0, time=240))
        track.append(mido.Message("note_on", note=m, velocity=0, time=48))
    mid.save(str(ref))

    # The performance: every note on time except the sixth (A4), 150 ms late.
    notes = [
        SynthNote(m, 0.5 + 0.3 * i + (0.15 if i == 5 else 0.0), 0.22, amplitude=0.4)
        for i, m in enumerate(SCALE)
    ]
    signal = render_notes(notes, 48000, tail_s=1.0)

    page = main_window.practice
    form = SessionForm(parent=main_window)
    qtbot.addWidget(form)
    form.piece.setText("Scale with reference")
    form._add_reference(ref)
    page.set_plan(form.plan())
    assert page.reference is not None and len(page.reference.notes) == len(SCALE)
    page.source_factory = lambda prefs: SyntheticSource(signal=signal, sample_rate=48000)
    with qtbot.waitSignal(page.practice_started, timeout=10_000):
        page.start_practice()
    page.start_take()
    qtbot.waitUntil(lambda: page.worker.position_s >= 3.3, timeout=15_000)
    assert page.pitch_view._ref_item.getData()[0] is not None  # reference bars drawn
    with qtbot.waitSignal(page.take_saved, timeout=20_000) as saved:
        page.stop_take()
    page.stop_practice()
    wait_idle(qtbot, main_window.ctx)

    analysis = saved.args[0].analysis
    assert analysis.note_accuracy_rate == 1.0
    timeline = json.loads(analysis.feedback_json)["timeline"]
    late = [e for e in timeline if e.get("timing_ms", 0) > 50]
    assert [e["target_midi"] for e in late] == [69]
    assert page.card.timeline.late == 1 and page.card.timeline.early == 0
    assert page.card.value_labels["note_accuracy_rate"].text() == "100 %"


def _hold_the_database(main_window: Any, seconds: float) -> None:
    """Keep the database worker busy, as a long export or progress rebuild does."""
    import time

    main_window.ctx.db.submit("busy", lambda s: time.sleep(seconds))


def test_stopping_before_the_database_answered_still_ends_the_session(qtbot, main_window):
    page = main_window.practice
    page.source_factory = lambda prefs: scale_source()
    _hold_the_database(main_window, 1.5)
    assert page.start_practice()
    qtbot.waitUntil(lambda: page.controller.is_listening, timeout=5_000)
    assert page.session is None  # its row is still waiting behind the busy database
    page.end_session()
    assert not page.is_live
    with qtbot.waitSignal(page.practice_stopped, timeout=10_000) as stopped:
        pass
    wait_idle(qtbot, main_window.ctx)
    session, takes = _rows(main_window, stopped.args[0].id)
    assert session.status == "completed" and takes == []
    assert session.chunks_processed > 0  # the hops analysed before Stop are counted
    with main_window.ctx.database.sessionmaker() as s:
        assert get_user_sessions(s, main_window.ctx.profile.id, status="active") == []


def test_stopping_before_the_input_opened_leaves_no_session(qtbot, main_window):
    page = main_window.practice
    page.source_factory = lambda prefs: scale_source()
    assert page.start_practice()
    page.stop_practice()  # at once: the input is still being opened
    assert not page.is_live
    wait_idle(qtbot, main_window.ctx)
    with main_window.ctx.database.sessionmaker() as s:
        assert get_user_sessions(s, main_window.ctx.profile.id) == []
    assert not page.start_button.text().startswith("Stop")


def test_start_stop_start_before_the_database_answered_continues_one_session(qtbot, main_window):
    page = main_window.practice
    page.source_factory = lambda prefs: scale_source(total_s=30.0)
    _hold_the_database(main_window, 1.5)
    assert page.start_practice()
    qtbot.waitUntil(lambda: page.controller.is_listening, timeout=5_000)
    page.stop_practice()  # the session's row does not exist yet
    assert page.start_practice()  # nor does it now: this run continues the same session
    with qtbot.waitSignal(page.practice_started, timeout=10_000) as started:
        pass
    wait_idle(qtbot, main_window.ctx)
    current = started.args[0]
    assert page.session.id == current.id
    with main_window.ctx.database.sessionmaker() as s:
        rows = get_user_sessions(s, main_window.ctx.profile.id)
    assert [r.id for r in rows] == [current.id]
    assert rows[0].status == "active"
    with qtbot.waitSignal(page.practice_stopped, timeout=10_000) as stopped:
        page.end_session()
    wait_idle(qtbot, main_window.ctx)
    assert stopped.args[0].id == current.id
    with main_window.ctx.database.sessionmaker() as s:
        assert get_user_sessions(s, main_window.ctx.profile.id, status="active") == []
        assert get_session(s, current.id).chunks_processed > 0


def test_pausing_keeps_the_session_and_its_takes_together(qtbot, main_window):
    """Stop (Space) pauses: Start again continues the same session, so take 1 and take 2 are
    listed together; End session ends it, and the next Start is a new session."""
    page = main_window.practice
    page.set_plan(SessionPlan(piece_name="C major scale", target_tempo_bpm=100))
    page.source_factory = lambda prefs: scale_source(total_s=30.0)
    stopped: list[Any] = []
    page.practice_stopped.connect(stopped.append)
    sessions = []
    for take in (1, 2):
        with qtbot.waitSignal(page.practice_started, timeout=10_000) as started:
            assert page.start_practice()
        sessions.append(started.args[0].id)
        assert page.start_take()
        qtbot.waitUntil(lambda: page.controller.position_s >= 1.0, timeout=10_000)
        with qtbot.waitSignal(page.take_saved, timeout=20_000):
            page.stop_take()
        page.stop_practice()  # Space: pause
        wait_idle(qtbot, main_window.ctx)
        assert not page.is_live
        assert page.end_button.isEnabled()
        assert page.start_button.text().startswith("Continue")
        qtbot.waitUntil(lambda n=take: len(page.takes.rows) == n, timeout=5_000)
    assert sessions[0] == sessions[1]
    assert stopped == []  # pausing never ended it
    with main_window.ctx.database.sessionmaker() as s:
        row = get_session(s, sessions[0])
    assert row.status == "active"
    names = [Path(t.performance.audio_path).name for t in page.takes.rows]
    assert names[0].endswith("-01.flac") and names[1].endswith("-02.flac")

    with qtbot.waitSignal(page.practice_stopped, timeout=10_000) as ended:
        page.end_button.click()
    assert ended.args[0].id == sessions[0] and ended.args[0].status == "completed"
    assert not page.end_button.isEnabled()
    assert page.start_button.text().startswith("Start")
    with qtbot.waitSignal(page.practice_started, timeout=10_000) as started:
        assert page.start_practice()
    assert started.args[0].id != sessions[0]
    page.end_session()
    wait_idle(qtbot, main_window.ctx)


def test_a_long_pause_ends_the_session_by_itself(qtbot, main_window):
    page = main_window.practice
    page.controller.idle_end_s = 0.5  # 30 minutes in the app
    page.source_factory = lambda prefs: scale_source(total_s=30.0)
    with qtbot.waitSignal(page.practice_started, timeout=10_000) as started:
        assert page.start_practice()
    page.stop_practice()
    with qtbot.waitSignal(page.practice_stopped, timeout=10_000) as ended:
        pass
    assert ended.args[0].id == started.args[0].id
    assert ended.args[0].status == "completed"
    assert not page.end_button.isEnabled()
    wait_idle(qtbot, main_window.ctx)


def test_a_new_plan_ends_the_paused_session(qtbot, main_window):
    page = main_window.practice
    page.source_factory = lambda prefs: scale_source(total_s=30.0)
    with qtbot.waitSignal(page.practice_started, timeout=10_000) as started:
        assert page.start_practice()
    page.stop_practice()
    with qtbot.waitSignal(page.practice_stopped, timeout=10_000) as ended:
        page.set_plan(SessionPlan(piece_name="Something else"))
    assert ended.args[0].id == started.args[0].id
    wait_idle(qtbot, main_window.ctx)


def test_a_metronome_output_that_fails_to_close_does_not_stop_the_stop(qtbot, main_window):
    """A USB interface unplugged takes the click's output with it: closing that stream then
    raises, and stopping must still end the input, the worker and the session."""
    import sounddevice as sd

    class VanishedOutput:
        def stop(self) -> None:
            raise sd.PortAudioError("Unanticipated host error [PaErrorCode -9999]")

    page = main_window.practice
    page.source_factory = lambda prefs: scale_source(total_s=30.0)
    with qtbot.waitSignal(page.practice_started, timeout=10_000):
        assert page.start_practice()
    worker = page.worker
    page.controller._click = VanishedOutput()
    with qtbot.waitSignal(page.practice_stopped, timeout=10_000) as stopped:
        page.end_session()
    assert not page.is_live and not worker.is_alive()
    assert page.start_button.text().startswith("Start")
    wait_idle(qtbot, main_window.ctx)
    assert stopped.args[0].status == "completed"


def test_an_open_progress_window_shows_a_session_once_it_has_ended(qtbot, main_window):
    """The progress rows are rebuilt when a session ends, after its takes were saved: a
    visible progress window must redraw then, not keep showing the figures from before."""
    win = main_window.open_progress()
    with qtbot.waitSignal(win.drawn, timeout=10_000):
        pass
    assert win.data.practice_minutes == []
    page = main_window.practice
    page.source_factory = lambda prefs: scale_source()
    with qtbot.waitSignal(page.practice_started, timeout=10_000):
        assert page.start_practice()
    qtbot.wait(1500)
    with qtbot.waitSignal(page.practice_stopped, timeout=10_000):
        page.end_session()
    qtbot.waitUntil(lambda: sum(m for _, m in win.data.practice_minutes) > 0, timeout=10_000)
    wait_idle(qtbot, main_window.ctx)
    win.close()


def test_a_take_is_dated_when_it_was_played_even_if_saving_waited(qtbot, main_window):
    """The database worker may be busy (an export, a progress rebuild) when a take ends: the
    take's start time must still be when the student played it."""
    from datetime import UTC, datetime

    page = main_window.practice
    page.source_factory = lambda prefs: scale_source(total_s=30.0)
    with qtbot.waitSignal(page.practice_started, timeout=10_000):
        assert page.start_practice()
    before = datetime.now(UTC)
    assert page.start_take()
    after = datetime.now(UTC)
    qtbot.waitUntil(lambda: page.worker.position_s >= 2.0, timeout=10_000)
    _hold_the_database(main_window, 2.5)
    with qtbot.waitSignal(page.take_saved, timeout=20_000) as saved:
        page.stop_take()
    page.stop_practice()
    wait_idle(qtbot, main_window.ctx)
    started = saved.args[0].performance.recording_started_at
    assert before.timestamp() - 0.3 <= started.timestamp() <= after.timestamp() + 0.3


def _scale_midi(path: Path) -> Path:
    """The test scale as a reference piece: the same notes 0.3 s apart, starting at 0 s."""
    import mido

    mid = mido.MidiFile(ticks_per_beat=480)  # 120 BPM: 0.3 s = 288 ticks
    track = mido.MidiTrack()
    mid.tracks.append(track)
    for m in SCALE:
        track.append(mido.Message("note_on", note=m, velocity=80, time=0))
        track.append(mido.Message("note_off", note=m, velocity=0, time=240))
        track.append(mido.Message("note_on", note=m, velocity=0, time=48))
    mid.save(path)
    return path


def test_reference_bars_follow_when_the_student_starts_and_restarts_the_piece(
    qtbot, main_window, tmp_path
):
    from audio.sources import SyntheticSource, SynthNote
    from tests.desktop.helpers import FIRST_ONSET_S, NOTE_SPACING_S, SR

    page = main_window.practice
    page.set_plan(SessionPlan(piece_name="Scale", reference_path=_scale_midi(tmp_path / "s.mid")))
    again_s = 3.4  # the student plays the scale once from 0.4 s, then again from 3.4 s
    notes = [
        SynthNote(midi=m, start_s=start + i * NOTE_SPACING_S, dur_s=0.25, amplitude=0.4)
        for start in (FIRST_ONSET_S, again_s)
        for i, m in enumerate(SCALE)
    ]
    page.source_factory = lambda prefs: SyntheticSource(notes, sample_rate=SR, realtime=True)
    with qtbot.waitSignal(page.practice_started, timeout=10_000):
        assert page.start_practice()
    # Before the first onset the piece is drawn from t = 0; then it sits where the student began.
    qtbot.waitUntil(lambda: page.worker.position_s >= 2.9, timeout=15_000)
    assert abs(page.pitch_view.reference_offset_s - FIRST_ONSET_S) < 0.03
    # A take restarts the piece: the bars wait for the next onset and follow the second run.
    qtbot.waitUntil(lambda: page.session is not None, timeout=5_000)
    assert page.start_take()
    assert page.pitch_view.reference_offset_s == 0.0
    qtbot.waitUntil(lambda: page.worker.position_s >= 6.0, timeout=15_000)
    assert abs(page.pitch_view.reference_offset_s - again_s) < 0.03
    # And the live targets of the second run are the piece's notes in order again.
    second = [n for n in page.controller.live_notes if n.onset_s >= again_s - 0.05]
    assert [n.ref_index for n in second] == list(range(len(SCALE)))
    with qtbot.waitSignal(page.take_saved, timeout=20_000):
        page.stop_take()
    with qtbot.waitSignal(page.practice_stopped, timeout=10_000):
        page.end_session()
    wait_idle(qtbot, main_window.ctx)
