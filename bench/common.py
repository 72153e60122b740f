"""What every benchmark script shares: where the repo is, its venv, and the setup error."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"


class SetupError(RuntimeError):
    """The benchmark could not be set up (exit 2)."""


def ensure_venv(script: str, *modules: str) -> None:
    """Re-run `script` under the project's .venv when started with a Python lacking
    flask, the app or `modules`."""
    try:
        for name in ("flask", "campaign", *modules):
            __import__(name)
    except ImportError:
        if VENV_PYTHON.exists() and Path(sys.prefix).resolve() != VENV_PYTHON.parents[1].resolve():
            os.execv(VENV_PYTHON, [VENV_PYTHON, script, *sys.argv[1:]])  # noqa: S606
        name = Path(script).name
        raise SetupError(f"run it with the project's venv: .venv/bin/python bench/{name}") from None
