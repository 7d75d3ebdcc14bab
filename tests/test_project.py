"""Project-level promises: the layering contract, and the `etude` command's first impression."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_import_contracts_of_architecture_md_are_kept() -> None:
    # import-linter reads the contracts in pyproject.toml and follows real imports.
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"][
        "importlinter"
    ]["contracts"]
    lint_imports = Path(sys.executable).parent / "lint-imports"
    proc = subprocess.run([str(lint_imports)], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"Contracts: {len(contracts)} kept, 0 broken" in proc.stdout


def test_architecture_md_names_every_import_contract() -> None:
    # The map for the next engineer stays true: each contract it lists is one import-linter
    # checks, and each contract import-linter checks is on the map.
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"][
        "importlinter"
    ]["contracts"]
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    listed = re.findall(r"^\d+\. \*(.+)\*[;.]?$", text, flags=re.MULTILINE)
    assert sorted(listed) == sorted(c["name"] for c in contracts)


def test_importing_audio_storage_the_use_cases_and_the_commands_loads_no_qt() -> None:
    code = (
        "import sys, pkgutil, importlib, audio, storage, desktop.usecases, desktop.cli\n"
        "for pkg in (audio, storage, desktop.usecases, desktop.cli):\n"
        "    for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "        importlib.import_module(m.name)\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph')]\n"
        "print(bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_etude_without_a_display_says_so_in_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.pop("QT_QPA_PLATFORM", None)
    env["ETUDE_DATA_DIR"] = str(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "desktop"], capture_output=True, text=True, env=env, cwd=ROOT
    )
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert "no display" in lines[0]
    assert "Traceback" not in proc.stderr


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "uv run pytest" in readme
    assert "uv run pytest" in ci


def test_building_the_etude_parser_loads_no_heavy_library() -> None:
    # Every `etude` start builds the parser; the GUI's cold start depends on it staying light.
    code = (
        "import sys\n"
        "from desktop.cli import build_parser\n"
        "build_parser()\n"
        "heavy = ('sqlalchemy', 'alembic', 'aubio', 'numpy', 'mido', 'PySide6', 'pyqtgraph')\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & set(heavy)))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_the_export_command_offers_exactly_the_exported_tables() -> None:
    from desktop.cli.storage_cmds import EXPORT_TABLES
    from storage.export import TABLES

    assert tuple(EXPORT_TABLES) == tuple(TABLES)


def test_scoring_fills_exactly_the_analysis_result_columns_of_the_seed() -> None:
    from audio.scoring import METRIC_KEYS
    from storage.models import AnalysisResult

    bookkeeping = {"id", "performance_id", "created_at", "updated_at", "usn"}
    columns = {c.name for c in AnalysisResult.__table__.columns} - bookkeeping
    assert set(METRIC_KEYS) == columns
    assert len(METRIC_KEYS) == len(set(METRIC_KEYS)) == 16
