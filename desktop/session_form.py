"""The "New session" form: what the student is about to practise. A recent piece fills in the
form as it was last set up; a reference MIDI fills in the piece's name and tempo (unless the
student typed their own); genres read as words ("Jazz ballad") and are stored by key."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from audio.settings import LIMITS
from desktop.usecases.assignments import StudentAssignment
from desktop.usecases.plan import DIFFICULTIES, SessionPlan, genre_words, title_from_file_name


def known_genres() -> list[str]:
    """The genres the scoring has a profile for (resources/genres/genres.json)."""
    try:
        from audio.genres import genre_profiles

        return sorted(genre_profiles())
    except (OSError, ValueError, KeyError):
        return []


def resource_dir(name: str) -> Path:
    return Path(__file__).resolve().parent.parent / "resources" / name


class SessionForm(QDialog):
    def __init__(
        self,
        plan: SessionPlan | None = None,
        parent: QWidget | None = None,
        assignments: Sequence[StudentAssignment] = (),
    ):
        super().__init__(parent)
        self.setWindowTitle("New practice session")
        plan = plan or SessionPlan()
        # The teacher's assignment chosen with "Practise this" (the caller starts it), and the
        # one the plan being edited was made from (kept while the student adjusts it).
        self.chosen_assignment: uuid.UUID | None = None
        self.assignment_id = plan.assignment_id
        self.recent_plans: list[SessionPlan] = []
        # What the last chosen reference filled in, so choosing another replaces it but never
        # what the student typed.
        self._filled_name: str | None = None
        self._filled_tempo: int | None = None
        form = QFormLayout()
        self.recent = QComboBox()
        self.recent.addItem("No recent pieces yet")
        self.recent.setEnabled(False)
        self.recent.activated.connect(self._recent_chosen)
        form.addRow("Recent", self.recent)
        self.piece = QLineEdit(plan.piece_name or "")
        self.piece.setPlaceholderText("e.g. Bach Minuet in G")
        form.addRow("Piece", self.piece)
        self.genre = QComboBox()
        self.genre.setEditable(True)
        self.genre.addItem("", "")
        for g in known_genres():
            self.genre.addItem(genre_words(g), g)
        self.set_genre(plan.genre)
        form.addRow("Genre", self.genre)
        self.tempo = QSpinBox()
        # 0 reads "no tempo"; 1..19 is refused with a message by SessionPlan.validated.
        self.tempo.setRange(0, int(LIMITS["target_tempo_bpm"].hi))
        self.tempo.setSpecialValueText("no tempo")
        self.tempo.setSuffix(" BPM")
        self.tempo.setValue(plan.target_tempo_bpm or 0)
        form.addRow("Target tempo", self.tempo)
        self.difficulty = QComboBox()
        self.difficulty.addItem("not set", "")
        for d in DIFFICULTIES:
            self.difficulty.addItem(d, d)
        self.difficulty.setCurrentIndex(
            max(0, self.difficulty.findData(plan.difficulty_level or ""))
        )
        form.addRow("Difficulty", self.difficulty)
        self.reference = QComboBox()
        self.reference.addItem("none", "")
        for p in sorted(resource_dir("pieces").glob("*.mid")):
            self.reference.addItem(title_from_file_name(p.stem), str(p))
        if plan.reference_path:
            self._add_reference(plan.reference_path)
        self.reference.currentIndexChanged.connect(self._reference_chosen)
        browse = QPushButton("Other file…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.reference, 1)
        row.addWidget(browse)
        form.addRow("Reference MIDI", row)
        self.error = QLabel("")
        self.error.setStyleSheet("color: rgb(215,50,50);")
        self.error.setWordWrap(True)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        if assignments:
            from desktop.widgets.assignment_list import AssignmentList

            self.assignments = AssignmentList(assignments, self)
            self.assignments.practise_requested.connect(self._practise)
            lay.addWidget(self.assignments)
        lay.addLayout(form)
        lay.addWidget(self.error)
        lay.addWidget(buttons)

    def set_genre(self, genre: str | None) -> None:
        """Show ``genre`` (a key such as "jazz_ballad", or words the student typed)."""
        i = self.genre.findData(genre or "")
        if i >= 0:
            self.genre.setCurrentIndex(i)
        else:
            self.genre.setCurrentText(genre or "")

    def genre_key(self) -> str | None:
        """The genre as stored: a known genre's key, else what the student typed."""
        text = self.genre.currentText().strip()
        i = self.genre.findText(text)
        if i >= 0:
            return str(self.genre.itemData(i) or "") or None
        return text or None

    def set_recent(self, plans: list[SessionPlan]) -> None:
        """The profile's recent pieces (desktop.usecases.sessions.recent_pieces), newest first."""
        self.recent_plans = list(plans)
        self.recent.clear()
        if not plans:
            self.recent.addItem("No recent pieces yet")
            self.recent.setEnabled(False)
            return
        self.recent.addItem("Choose a piece you practised recently…")
        for p in plans:
            self.recent.addItem(p.describe())
        self.recent.setEnabled(True)

    def _recent_chosen(self, index: int) -> None:
        if not 1 <= index <= len(self.recent_plans):
            return
        plan = self.recent_plans[index - 1]
        self.piece.setText(plan.piece_name or "")
        self.set_genre(plan.genre)
        self.tempo.setValue(plan.target_tempo_bpm or 0)
        self.difficulty.setCurrentIndex(
            max(0, self.difficulty.findData(plan.difficulty_level or ""))
        )
        # A built-in piece of that name comes with its reference.
        i = self.reference.findText(plan.piece_name or "")
        self.reference.blockSignals(True)
        self.reference.setCurrentIndex(max(0, i))
        self.reference.blockSignals(False)
        self._filled_name = self._filled_tempo = None

    def _reference_chosen(self, _index: int) -> None:
        """Fill in the piece's name and tempo from the chosen MIDI file, where the student has
        not typed their own."""
        data = str(self.reference.currentData() or "")
        if not data:
            return
        name = self.reference.currentText()
        tempo: int | None = None
        try:
            from audio.reference import load_reference

            bpm = load_reference(Path(data)).tempo_bpm
            tempo = round(bpm) if bpm else None
        except Exception:  # a bad file is reported when the plan is used (set_plan)
            tempo = None
        if not self.piece.text().strip() or self.piece.text() == self._filled_name:
            self.piece.setText(name)
            self._filled_name = name
        untouched = self.tempo.value() in (0, self._filled_tempo)
        if tempo is not None and LIMITS["target_tempo_bpm"].allows(tempo) and untouched:
            self.tempo.setValue(tempo)
            self._filled_tempo = tempo

    def _add_reference(self, path: Path) -> None:
        i = self.reference.findData(str(path))
        if i < 0:
            self.reference.addItem(title_from_file_name(path.stem), str(path))
            i = self.reference.count() - 1
        self.reference.setCurrentIndex(i)

    def _browse(self) -> None:
        name, _ = QFileDialog.getOpenFileName(
            self, "Reference MIDI file", "", "MIDI files (*.mid *.midi)"
        )
        if name:
            self._add_reference(Path(name))

    def plan(self) -> SessionPlan:
        """The form as a plan; raises ValueError naming the first bad field."""
        ref = str(self.reference.currentData() or "")
        return SessionPlan(
            piece_name=self.piece.text().strip() or None,
            genre=self.genre_key(),
            target_tempo_bpm=self.tempo.value() or None,
            difficulty_level=str(self.difficulty.currentData() or "") or None,
            reference_path=Path(ref) if ref else None,
            assignment_id=self.assignment_id,
        ).validated()

    def _practise(self, assignment_id: uuid.UUID) -> None:
        self.chosen_assignment = assignment_id
        self.accept()

    def _accept(self) -> None:
        try:
            self.plan()
        except ValueError as exc:
            self.error.setText(str(exc))
            return
        self.accept()
