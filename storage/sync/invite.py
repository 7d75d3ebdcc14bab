"""The one-line invitation a teacher gives a student: server address, role and password.

Format: ``etude1:`` followed by the URL-safe base64 (no padding) of a JSON object with ``host``,
``port``, ``dbname``, ``role`` and ``password``. One token without spaces survives being pasted
from an e-mail or a chat; nothing else secret is in it (the teacher's root certificate, needed
off localhost, is a public file given alongside).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

PREFIX = "etude1:"


class InvitationError(ValueError):
    """The text is not an Etude invitation (or was cut short when pasted)."""


@dataclass(frozen=True)
class Invitation:
    """Where and as whom a student's app logs in. port: 1..65535."""

    host: str
    port: int
    dbname: str
    role: str
    password: str

    def encode(self) -> str:
        """The one-line form (``etude1:...``)."""
        payload = json.dumps(
            {
                "host": self.host,
                "port": self.port,
                "dbname": self.dbname,
                "role": self.role,
                "password": self.password,
            },
            separators=(",", ":"),
        ).encode()
        return PREFIX + base64.urlsafe_b64encode(payload).decode().rstrip("=")


def decode(text: str) -> Invitation:
    """Parse a pasted invitation (surrounding spaces and line breaks are ignored)."""
    token = "".join(text.split())
    if not token.startswith(PREFIX):
        raise InvitationError("this is not an Etude invitation (it should start with etude1:)")
    body = token[len(PREFIX) :]
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        data = json.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise InvitationError(
            "the invitation is damaged or incomplete: copy the whole line again"
        ) from exc
    if not isinstance(data, dict):
        raise InvitationError("the invitation is damaged: copy the whole line again")
    try:
        inv = Invitation(
            host=str(data["host"]),
            port=int(data["port"]),
            dbname=str(data["dbname"]),
            role=str(data["role"]),
            password=str(data["password"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InvitationError("the invitation is incomplete: copy the whole line again") from exc
    if not (inv.host and inv.dbname and inv.role and inv.password and 0 < inv.port < 65536):
        raise InvitationError("the invitation is incomplete: copy the whole line again")
    return inv
