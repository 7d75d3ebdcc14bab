"""Connecting to a teacher's server as a student or teacher, and sync errors in plain words.

TLS: any host but this computer (localhost, 127.0.0.1, ::1, a Unix socket) is reached with
``sslmode=verify-full`` against the teacher's root certificate, so a server that cannot prove
its name is refused; on this computer TLS is used when the server offers it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
CONNECT_TIMEOUT_S = 10
# A connection cut without a FIN or RST (a cable pulled, a laptop sleeping) is noticed within
# about 20 s instead of the operating system's two hours.
KEEPALIVE = {
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 3,
    "keepalives_count": 3,
    "tcp_user_timeout": 20_000,
}


class SyncError(Exception):
    """A sync could not run or was rolled back; nothing was lost. The message is for the
    student: plain words, no SQL, addresses of the server only as the host name."""


class OfflineError(SyncError):
    """The server could not be reached (no network, server down, connection cut)."""


class LoginError(SyncError):
    """The server refused the account or password."""


class CertificateError(SyncError):
    """The server's certificate is missing, untrusted or for another name."""


class SchemaMismatchError(SyncError):
    """Client and server are at different schema revisions; nothing was written."""


class CountMismatchError(SyncError):
    """After a sync the two sides held different numbers of rows: it was rolled back, and a full
    sync is offered."""


class FullSyncRefusedError(SyncError):
    """A full sync would have let an empty side overwrite a side with data."""


@dataclass(frozen=True)
class ServerAddress:
    """Where a profile syncs: host, port (1..65535), database, login role, and the path of the
    teacher's root certificate (needed for any host but this computer)."""

    host: str
    port: int
    dbname: str
    role: str
    ca_cert_path: str | None = None

    @property
    def is_local(self) -> bool:
        """True for this computer, where TLS is not required."""
        return self.host in LOCAL_HOSTS or self.host.startswith("/")

    def describe(self) -> str:
        """The server as shown to a student: host and database, no password."""
        return f"{self.host}:{self.port}/{self.dbname} as {self.role}"


def connection_kwargs(address: ServerAddress, password: str) -> dict[str, Any]:
    """libpq keyword arguments for ``address``: TLS verify-full off this computer."""
    kwargs: dict[str, Any] = {
        "host": address.host,
        "port": address.port,
        "dbname": address.dbname,
        "user": address.role,
        "password": password,
        "connect_timeout": CONNECT_TIMEOUT_S,
        "application_name": "etude-sync",
        **KEEPALIVE,
    }
    if address.is_local:
        kwargs["sslmode"] = "prefer"
    else:
        if not address.ca_cert_path:
            raise CertificateError(
                f"to sync with {address.host} Etude needs your teacher's root certificate "
                "(a .crt or .pem file): add it in the sync settings"
            )
        if not Path(address.ca_cert_path).is_file():
            raise CertificateError(
                f"the teacher's certificate file {address.ca_cert_path} is missing"
            )
        kwargs["sslmode"] = "verify-full"
        kwargs["sslrootcert"] = address.ca_cert_path
    return kwargs


def connect(address: ServerAddress, password: str) -> psycopg.Connection[Any]:
    """A connection to the server (not in autocommit), or a SyncError in plain words."""
    try:
        return psycopg.connect(**connection_kwargs(address, password))
    except psycopg.OperationalError as exc:
        raise explain(exc, address) from exc


def explain(exc: BaseException, address: ServerAddress) -> SyncError:
    """The SyncError a student sees for a database or network failure."""
    text = str(exc).lower()
    where = address.host
    if "password authentication failed" in text or ("role" in text and "does not exist" in text):
        return LoginError(
            f"the server {where} did not accept the account {address.role} and its password: "
            "check the invitation with your teacher"
        )
    if "certificate" in text or ("ssl" in text and ("verify" in text or "match" in text)):
        return CertificateError(
            f"the server {where} could not prove it is {where} (its certificate does not match "
            "your teacher's root certificate or its name): nothing was sent. Ask your teacher."
        )
    if "too many connections" in text:
        return OfflineError(f"the server {where} is busy right now; Etude will try again later")
    if isinstance(exc, psycopg.errors.LockNotAvailable):
        return OfflineError(
            "another sync of this profile (from another computer?) is still running on the "
            f"server {where}; Etude will try again later"
        )
    if isinstance(exc, psycopg.errors.QueryCanceled) or "timeout" in text:
        return OfflineError(f"the server {where} took too long to answer; nothing was lost")
    return OfflineError(
        f"the server {where} cannot be reached right now (offline?); your practice is kept on "
        "this computer and will sync later"
    )
