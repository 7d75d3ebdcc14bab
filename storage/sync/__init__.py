"""Sync of a computer's profiles with a teacher's PostgreSQL server (no Qt, mypy strict).

- :mod:`storage.sync.tables`: which tables sync, and how each row belongs to a student.
- :mod:`storage.sync.server`: set-up of a server (owner and group roles, row-level security,
  accounts and their invitations), run by whoever administers it (``etude server ...``).
- :mod:`storage.sync.invite`: the one-line invitation a student pastes into the app.
- :mod:`storage.sync.client`: connecting to a server as a student (TLS verify-full off
  localhost) and errors in plain words.
- :mod:`storage.sync.protocol`: one sync (pull, push, count check; full sync).
- :mod:`storage.sync.link`: linking a profile to an account, and the password in the keyring.
- :mod:`storage.sync.audio`: uploading takes' audio by content hash, in resumable chunks.
"""
