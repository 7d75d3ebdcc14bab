"""What the take is doing, large enough to read from the music stand: the count-in's beat,
then a red "recording" mark with the take's running time."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QWidget

# Red on white and white on red both pass WCAG AA (4.5:1) at this weight and size.
_RECORDING = "background:#b00020;color:white;font-weight:bold;font-size:16px;padding:2px 10px;"
_COUNTING = "background:#8a5a00;color:white;font-weight:bold;font-size:16px;padding:2px 10px;"


def format_take_time(seconds: float) -> str:
    """0:07, 1:23, 12:05 (minutes:seconds, rounded down)."""
    whole = max(0, int(seconds))
    return f"{whole // 60}:{whole % 60:02d}"


class TakeIndicator(QLabel):
    """Hidden when no take is coming or running; "Count-in 2 / 4" while counting in; "● REC 0:07"
    while recording."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setAccessibleName("Take status")
        self.state = "idle"  # idle | counting | recording
        self.hide()

    def show_count(self, beat: int, beats: int) -> None:
        self.state = "counting"
        self.setStyleSheet(_COUNTING)
        self.setText(f"Count-in  {beat} / {beats}" if beat > 0 else "Count-in …")
        self.show()

    def show_recording(self, seconds: float) -> None:
        self.state = "recording"
        self.setStyleSheet(_RECORDING)
        self.setText(f"● REC  {format_take_time(seconds)}")
        self.show()

    def clear(self) -> None:
        self.state = "idle"
        self.setText("")
        self.hide()
