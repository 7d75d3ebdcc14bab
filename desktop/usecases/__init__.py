"""What Etude does, written once, without Qt.

Each function here is one use case: store a take and its analysis, start or end a session,
list a profile's history, recover after a crash. The window runs them on its database worker,
the ``etude`` command runs them in a plain transaction, and tests call them directly, so the
three can never drift apart. A function that touches the database takes the caller's SQLAlchemy
``Session`` first and returns frozen records (``storage.records``), never live ORM objects.

No Qt here (an import-linter contract in pyproject.toml checks it, indirect imports included):
these modules run from the command line on a machine without a display.
"""
