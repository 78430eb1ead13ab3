"""Atomic file writes: each goes to a temporary file beside its target and is renamed over it, so a
kill at any moment leaves the old file or the new one, never half of one."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable

import numpy as np


def write_atomically(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """``write`` into a temporary file in ``path``'s folder (made if missing), renamed to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path: Path, text: str) -> None:
    write_atomically(path, lambda f: f.write(text.encode()))


def write_json(path: Path, payload: dict) -> None:
    """Sorted, indented JSON: equal payloads give equal files."""
    write_text(path, json.dumps(payload, indent=2, sort_keys=True) + "\n")


def save_npy(path: Path, array: np.ndarray) -> None:
    write_atomically(path, lambda f: np.save(f, array))


def save_npz(path: Path, **arrays: np.ndarray) -> None:
    write_atomically(path, lambda f: np.savez(f, **arrays))
