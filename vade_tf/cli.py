"""What every command (``vade-train``, ``vade-export``, ``vade-experiment``, ``vade-predict``) shares:
its parser, with ``--version``, and the one place a command reports the errors that end it.

A user error (a bad config, data file, run directory, export target or input) is one line that
names the problem and the fix, and exit code 2; a stopped run exits with its own code (3 for a
non-finite loss, 128 + the signal after SIGTERM/SIGINT) and keeps what it saved.
"""
from __future__ import annotations

import argparse
import sys
from typing import Callable

from vade_tf import __version__
from vade_tf.errors import NON_FINITE_LOSS, USER_ERRORS, TrainingStopped


def command_parser(doc: str) -> argparse.ArgumentParser:
    """A command's parser, described by the first line of its module's docstring."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s (vade-tf) {__version__}")
    return parser


def run_cli(body: Callable[[], int]) -> int:
    """``body()``'s exit code, or the one-line report of the error that ended it, on stderr."""
    try:
        return body()
    except USER_ERRORS as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except TrainingStopped as e:  # finished runs and checkpoints are kept: re-run to continue
        print(f"{'error' if e.exit_code == NON_FINITE_LOSS else 'stopped'}: {e}", file=sys.stderr)
        return e.exit_code


def command_line() -> str:
    """How this process was started, for a run's record (``metrics.json``'s ``command``)."""
    return " ".join(["python"] + sys.argv)
