"""What every command (``vade-train``, ``vade-export``, ``vade-experiment``, ``vade-predict``) shares:
its parser, with ``--version`` and ``--verbose``, the one place a command reports the errors that
end it, and TensorFlow's own log kept out of the console.

A user error (a bad config, data file, run directory, export target or input) is one line that
names the problem and the fix, and exit code 2; a stopped run exits with its own code (3 for a
non-finite loss, 128 + the signal after SIGTERM/SIGINT) and keeps what it saved.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Any, Callable

from vade_tf import __version__
from vade_tf.errors import NON_FINITE_LOSS, USER_ERRORS, TrainingStopped


def command_parser(doc: str) -> argparse.ArgumentParser:
    """A command's parser, described by the first line of its module's docstring."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s (vade-tf) {__version__}")
    parser.add_argument("--verbose", action="store_true",
                        help="show TensorFlow's own log too (its C++ start-up lines and warnings)")
    return parser


def run_cli(body: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """``body(args)``'s exit code, or the one-line report of the error that ended it, on stderr;
    unless ``args.verbose``, TensorFlow's own log is kept out of the console (``load_tensorflow``)."""
    quiet_native_log(args.verbose)
    try:
        return body(args)
    except USER_ERRORS as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except TrainingStopped as e:  # finished runs and checkpoints are kept: re-run to continue
        print(f"{'error' if e.exit_code == NON_FINITE_LOSS else 'stopped'}: {e}", file=sys.stderr)
        return e.exit_code


def flag_overrides(flags: dict[str, Any]) -> dict[str, Any]:
    """The config keys a command's own flags set (``--epochs`` for ``train.epochs``, ...): each key
    whose flag was given, with its value; ``flags`` maps a key to its flag's value, None when absent."""
    return {key: value for key, value in flags.items() if value is not None}


def command_line() -> str:
    """How this process was started, for a run's record (``metrics.json``'s ``command``)."""
    return " ".join(["python"] + sys.argv)


QUIET = "3"  # TF_CPP_MIN_LOG_LEVEL that keeps every C++ log line out


def quiet_native_log(verbose: bool) -> None:
    """Keep TensorFlow's C++ log out of the console, unless ``verbose`` or the user set
    TF_CPP_MIN_LOG_LEVEL themselves."""
    if not verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", QUIET)


def load_tensorflow() -> None:
    """Import TensorFlow and TFP now; when the log is to be quiet, with standard error closed while
    their native libraries start (their first lines, oneDNN and CUDA drivers, come before any log
    level applies) and TensorFlow's Python warnings (retracing) off."""
    if "tensorflow" in sys.modules or os.environ.get("TF_CPP_MIN_LOG_LEVEL") != QUIET:
        return
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import tensorflow as tf
        import tensorflow_probability  # noqa: F401 - it loads its own native start-up
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    tf.get_logger().setLevel("ERROR")
