"""TLS verify-full against a throwaway PostgreSQL cluster of the test's own (``initdb`` and
``pg_ctl``, ``ssl=on``, a test CA made here with openssl, SCRAM passwords, every statement
logged): the right certificate syncs, a certificate for another name or from another CA is
refused with a clear message, a wrong password is refused, and no password reaches the log."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from storage.profiles import create_profile
from storage.sync import server
from storage.sync.client import CertificateError, LoginError, ServerAddress
from storage.sync.link import link_profile
from storage.sync.protocol import sync
from tests.conftest import need
from tests.sync.helpers import T0, practise

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

HOST, OTHER_HOST = "127.0.0.2", "127.0.0.3"  # loopback, but not "this computer" to Etude


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for folder in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (folder / name).exists():
            return str(folder / name)
    return None


@dataclass
class Cluster:
    port: int
    folder: Path
    ca: Path
    other_ca: Path
    log: Path

    @property
    def admin_url(self) -> str:
        return f"postgresql+psycopg://postgres@{HOST}:{self.port}/postgres?sslmode=require"


def _openssl(folder: Path, *args: str) -> None:
    subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)


def _make_certificates(folder: Path) -> None:
    for ca in ("ca", "other_ca"):
        _openssl(
            folder,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-keyout",
            f"{ca}.key",
            "-out",
            f"{ca}.crt",
            "-subj",
            f"/CN=Etude test {ca}",
        )
    _openssl(
        folder,
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        f"/CN={HOST}",
    )
    (folder / "ext.cnf").write_text(f"subjectAltName=IP:{HOST}\nbasicConstraints=CA:FALSE\n")
    _openssl(
        folder,
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    need(
        initdb is not None and pg_ctl is not None and shutil.which("openssl") is not None,
        "initdb, pg_ctl (PostgreSQL server package) and openssl",
    )
    assert initdb and pg_ctl
    folder = Path(tempfile.mkdtemp(prefix="etude-tls-"))
    run_as: dict[str, str] = {}
    if os.geteuid() == 0:  # initdb refuses to run as root
        run_as = {"user": "postgres"}
        entry = pwd.getpwnam("postgres")
        os.chown(folder, entry.pw_uid, entry.pw_gid)
    data, log = folder / "data", folder / "server.log"
    try:
        subprocess.run(
            [
                initdb,
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
            ],
            check=True,
            capture_output=True,
            **run_as,  # type: ignore[call-overload]
        )
        _make_certificates(folder)
        for name in ("server.key", "server.crt"):
            target = data / name
            shutil.copy(folder / name, target)
            os.chmod(target, 0o600)
            if run_as:
                os.chown(target, entry.pw_uid, entry.pw_gid)
        port = _free_port()
        with open(data / "postgresql.conf", "a") as conf:
            conf.write(
                f"\nlisten_addresses = '{HOST},{OTHER_HOST}'\nport = {port}\n"
                f"unix_socket_directories = '{folder}'\nssl = on\n"
                "ssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n"
                "log_statement = 'all'\nlog_connections = on\n"
            )
        (data / "pg_hba.conf").write_text(
            "local all all trust\n"
            "hostssl all postgres 127.0.0.0/8 trust\n"
            "hostssl all all 127.0.0.0/8 scram-sha-256\n"
        )
        if run_as:
            os.chown(data / "pg_hba.conf", entry.pw_uid, entry.pw_gid)
        subprocess.run(
            [pg_ctl, "-D", str(data), "-l", str(log), "-w", "-t", "60", "start"],
            check=True,
            capture_output=True,
            **run_as,  # type: ignore[call-overload]
        )
        try:
            yield Cluster(port, folder, folder / "ca.crt", folder / "other_ca.crt", log)
        finally:
            subprocess.run(
                [pg_ctl, "-D", str(data), "-m", "immediate", "stop"],
                capture_output=True,
                **run_as,  # type: ignore[call-overload]
            )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_verify_full_syncs_and_refuses_wrong_certificates_and_passwords(
    cluster: Cluster, tmp_path: Path
) -> None:
    prefix = f"tls{uuid.uuid4().hex[:8]}"
    server.init_server(cluster.admin_url, prefix)
    server.add_teacher(cluster.admin_url, "T", prefix=prefix)
    new = server.add_student(cluster.admin_url, "Ann", "T", prefix=prefix, host=HOST)
    inv = new.invitation
    assert inv.host == HOST and inv.port == cluster.port
    from storage.db import open_database

    db = open_database(f"sqlite:///{(tmp_path / 'etude.db').as_posix()}")
    try:
        with db.transaction() as s:
            ann = create_profile(s, "Ann").id
        practise(db, ann, T0)

        def address(host: str = HOST, ca: Path | None = cluster.ca) -> ServerAddress:
            return ServerAddress(host, inv.port, inv.dbname, inv.role, str(ca) if ca else None)

        # No certificate given for a host that is not this computer: refused before connecting.
        with pytest.raises(CertificateError, match="root certificate"):
            link_profile(db, address(ca=None), inv.password, profile_id=ann)
        # Another CA, or a certificate for another name: refused, in plain words.
        for wrong in (address(ca=cluster.other_ca), address(host=OTHER_HOST)):
            with pytest.raises(CertificateError, match="could not prove") as info:
                link_profile(db, wrong, inv.password, profile_id=ann)
            assert "SELECT" not in str(info.value) and "postgresql" not in str(info.value)
        with pytest.raises(LoginError, match="did not accept"):
            link_profile(db, address(), "not the password", profile_id=ann)
        link_profile(db, address(), inv.password, profile_id=ann)
        result = sync(db, ann, inv.password)
        assert result.pushed["performances"] == 3
    finally:
        db.dispose()
    log = cluster.log.read_text(errors="replace")
    assert "CREATE ROLE" in log and "SCRAM-SHA-256$" in log  # statements are logged...
    assert new.password not in log  # ... but never the password
