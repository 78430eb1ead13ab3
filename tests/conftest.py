"""What every test module shares: the command-line entry points called in-process, and a clean slate
of TensorFlow's process-wide switches between tests."""
import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).parent.parent
# Tiny runs compile without XLA and take the final ELBO from fewer draws: seconds each, not tens.
FAST = {"train.jit_compile": False, "train.elbo_draws": 2000}


def set_args(settings: dict) -> list[str]:
    """``--set KEY=VALUE`` arguments for a CLI, each value as JSON."""
    return [arg for key, value in settings.items() for arg in ("--set", f"{key}={json.dumps(value)}")]


def run_main(main, *argv) -> subprocess.CompletedProcess:
    """A CLI's ``main(argv)`` in this process, its exit code and output as a finished subprocess's:
    the same checks as a real process, without a fresh interpreter importing TensorFlow each time."""
    argv = [str(a) for a in argv]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return subprocess.CompletedProcess(argv, code, out.getvalue(), err.getvalue())


def run_script(script: str, *argv, **kwargs) -> subprocess.CompletedProcess:
    """``python <script> argv`` in a fresh interpreter: for exit codes, signals and process isolation."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run([sys.executable, str(ROOT / script), *map(str, argv)], capture_output=True,
                          text=True, env=env, **kwargs)


@pytest.fixture(autouse=True)
def _op_determinism_off_after_each_test():
    """train.deterministic switches TensorFlow's op determinism on for the whole process; a test that
    asks for it must not hand it to the next."""
    yield
    if "tensorflow" in sys.modules:
        from tensorflow.python.framework import config as tf_config  # the switch has no public "off"

        tf_config.disable_op_determinism()
