"""Every command README and the user guide show runs as written, in the order a reader meets them,
in a folder holding what the pages take a reader to have: MNIST where the command says
(``path/to/mnist``, ``DATA``; a few hundred of scikit-learn's digits drawn at MNIST's 28x28, since
CI cannot download MNIST), a CSV of their own data and new rows to cluster. Each command is checked
for what it promises: a run's metrics, an export's SavedModel and its signatures, a row of
clusters per input row, TensorBoard serving the run's scalars.

Three kinds are run elsewhere, and two not at all: the set-up commands run from an empty checkout
in ``test_readme.py`` (and CI's ``.ci/run`` is the test one), the site's build is ``test_docs.py``'s,
and TF Serving's ``docker run`` and the ``curl`` that asks it need Docker and its image, which this
machine and CI cannot fetch."""
import csv
import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
from conftest import ROOT
from documented import every_command

SET_UP = ("python3 -m venv", "pip install")  # test_readme.py runs them from an empty checkout
SITE_BUILD = "python -m sphinx"              # test_docs.py builds the site with these arguments
NOT_RUN_HERE = {
    "docker run": "TF Serving's image comes from Docker Hub, beyond the package registries",
    "curl": "asks the TF Serving that docker run starts",
}


def runs_elsewhere(command: str) -> bool:
    return command.startswith((*SET_UP, SITE_BUILD, *NOT_RUN_HERE))


def _mnist_like(directory: Path) -> np.ndarray:
    """Keras's ``mnist.npz`` layout (uint8 28x28 images, labels) from scikit-learn's 8x8 digits, each
    pixel drawn 3x3 and the image framed by 2 blank pixels: 300 to train, 100 to test. -> the test
    images as rows in [0, 1]."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.pad(np.kron(digits.images, np.ones((3, 3))), ((0, 0), (2, 2), (2, 2)))
    images = (images * 255 / 16).astype(np.uint8)
    directory.mkdir(parents=True, exist_ok=True)
    np.savez(directory / "mnist.npz", x_train=images[:300], y_train=digits.target[:300],
             x_test=images[300:400], y_test=digits.target[300:400])
    return images[300:400].reshape(100, -1) / 255


def _write_csv(path: Path, rows: np.ndarray) -> None:
    """Rows under a header, the CSV every command here reads."""
    np.savetxt(path, rows, delimiter=",", header=",".join(f"f{i}" for i in range(rows.shape[1])),
               comments="", fmt="%.6g")


def reader_folder(folder: Path) -> dict:
    """The checkout's scripts and configs beside the reader's data. -> the new rows each page's
    ``new.csv`` holds: MNIST's shape for README's MNIST run, the CSV's for the guide's own-data page."""
    for script in ("train.py", "export.py", "experiment.py"):
        shutil.copy(ROOT / script, folder)
    shutil.copytree(ROOT / "configs", folder / "configs")
    digits = _mnist_like(folder / "path" / "to" / "mnist")
    _mnist_like(folder / "DATA")
    from sklearn.datasets import make_blobs

    table, _ = make_blobs(300, n_features=4, centers=5, random_state=0)
    _write_csv(folder / "data.csv", table)
    return {"README.md": digits[:5], "python.md": table[:7] + 0.1}


def _environment(command: str) -> dict:
    """This interpreter's programs first on PATH, as an activated environment has them; a worker of
    a multi-worker run gets the TF_CONFIG of a cluster of one, on a free local port."""
    env = {**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])}
    if "train.strategy=multi_worker" in command:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        env["TF_CONFIG"] = json.dumps({"cluster": {"worker": [f"localhost:{port}"]},
                                       "task": {"type": "worker", "index": 0}})
    return env


def _option(command: str, name: str, default=None):
    argv = shlex.split(command)
    return argv[argv.index(name) + 1] if name in argv else default


TENSORBOARD_TAGS = "http://localhost:6006/data/plugin/scalars/tags"  # its default port


def _tensorboard_serves_the_run(command: str, folder: Path) -> None:
    """Start the command's server, wait until it answers on its default port with the run's
    per-epoch ELBO, stop it."""
    server = subprocess.Popen(["bash", "-c", "exec " + command], cwd=folder, env=_environment(command),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(TENSORBOARD_TAGS, timeout=10) as answer:
                    tags = json.loads(answer.read())
                if any("epoch_elbo" in run_tags for run_tags in tags.values()):
                    return
            except OSError:
                pass
            assert server.poll() is None, f"{command} ended: {server.stderr.read()[-2000:]}"
            assert time.monotonic() < deadline, f"{command} did not serve the run's scalars"
            time.sleep(1)
    finally:
        server.terminate()
        server.wait(timeout=30)


def _check_promise(command: str, folder: Path, new_rows, printed: str) -> None:
    """What the command says it leaves behind, or shows."""
    program = shlex.split(command)[:2]
    if program == ["python", "train.py"]:
        run = folder / _option(command, "--run-dir", "runs/latest")
        metrics = json.loads((run / "metrics.json").read_text())
        assert np.isfinite(metrics["elbo"]) and metrics["command"] == command, command
    elif program == ["python", "export.py"]:
        versions = sorted((folder / _option(command, "--export-dir")).iterdir())
        assert (versions[-1] / "saved_model.pb").exists(), command
    elif program[0] == "vade-predict":
        with open(folder / _option(command, "--output")) as written:
            rows = list(csv.DictReader(written))
        assert len(rows) == len(new_rows), command
        assert all(0 <= int(row["cluster"]) for row in rows), command
    elif program[0] == "saved_model_cli":
        assert all(f"signature_def['{name}']" in printed for name in ("serving_default", "embed", "generate",
                                                                        "score")), printed[-2000:]


def test_every_command_of_readme_and_the_guide_runs_as_written(tmp_path):
    new_rows = reader_folder(tmp_path)
    documented = every_command()
    shown = {prefix for prefix in NOT_RUN_HERE if any(shown.startswith(prefix) for _, shown in documented)}
    assert shown == set(NOT_RUN_HERE), "a command NOT_RUN_HERE lists is no longer documented: take it off"
    ran = []
    for page, command in documented:
        if runs_elsewhere(command) or command in ran:
            continue
        if page in new_rows:
            _write_csv(tmp_path / "new.csv", new_rows[page])
        if command.startswith("tensorboard "):
            _tensorboard_serves_the_run(command, tmp_path)
        else:
            result = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=_environment(command),
                                    capture_output=True, text=True, timeout=900)
            assert result.returncode == 0, f"{page}: {command}\n{result.stderr[-3000:]}"
            _check_promise(command, tmp_path, new_rows.get(page, []), result.stdout)
        ran.append(command)
    assert len(ran) >= 9, ran
