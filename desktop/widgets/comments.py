"""The teacher's comments on a take, as shown on the take's card and in History: who, when,
at which moment of the take, the text, and "new" on those not opened before."""

from __future__ import annotations

import html
from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QWidget

from storage.assignments import CommentRecord


def comments_html(
    comments: Sequence[CommentRecord],
    heading: str = "Your teacher's comments",
    unread_word: str = "new",
) -> str:
    """The comments as HTML (an empty string without any); unread ones marked ``unread_word``
    (the student sees "new", the teacher "not read yet")."""
    if not comments:
        return ""
    out = [f"<div><b>{html.escape(heading)}</b><ul>"]
    for c in comments:
        when = c.created_at.astimezone().strftime("%Y-%m-%d %H:%M")
        at = f" at {_clock(c.at_seconds)}" if c.at_seconds is not None else ""
        new = f' <b style="color:#d07000;">{html.escape(unread_word)}</b>' if c.unread else ""
        out.append(
            f"<li>{html.escape(c.author_name)}, {when}{at}{new}: "
            f"{html.escape(c.body).replace(chr(10), '<br>')}</li>"
        )
    out.append("</ul></div>")
    return "".join(out)


def _clock(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 60}:{whole % 60:02d}"


class CommentsLabel(QLabel):
    """The comments of one take; hidden when it has none."""

    def __init__(
        self,
        parent: QWidget | None = None,
        heading: str = "Your teacher's comments",
        unread_word: str = "new",
    ):
        super().__init__(parent)
        self.heading, self.unread_word = heading, unread_word
        self.setObjectName("take_comments")
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setVisible(False)

    def show_comments(self, comments: Sequence[CommentRecord]) -> None:
        text = comments_html(comments, self.heading, self.unread_word)
        self.setText(text)
        self.setVisible(bool(text))
