"""Running synthesis in a fresh interpreter: espeak-ng carries state from one utterance to the next within a process,
so audio that must be the same for the same seed is made where the library starts from the same state every time."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def call_in_fresh_process(module: str, function: str, *args: str | int | float, what: str) -> None:
    """Call `module.function(*args)` in a new Python process (args as literals); RuntimeError saying `what` failed."""
    root = str(Path(__file__).resolve().parents[2])
    code = f"import sys; sys.path.insert(0, {root!r}); from {module} import {function}; {function}(*{args!r})"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed (exit {done.returncode}): {done.stderr.strip()[-2000:]}")
