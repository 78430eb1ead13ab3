"""Bad input gets one line naming the problem and the fix, exit code 2, and nothing written."""
import gzip
import json

import numpy as np
import pytest
from conftest import train_tiny, train_tiny_process


def _write(path, text):
    path.write_text(text)
    return str(path)


def _idx(path, magic, body=b""):
    with gzip.open(path, "wb") as f:
        f.write(bytes(magic) + body)


def _mnist_dir(tmp_path, problem):
    """A directory of tiny MNIST files with one ``problem``."""
    d = tmp_path / "mnist"
    d.mkdir()
    images = bytes([0, 0, 8, 3]) + (4).to_bytes(4, "big") + (2).to_bytes(4, "big") * 2 + bytes(16)
    labels = bytes([0, 0, 8, 1]) + (4).to_bytes(4, "big") + bytes(4)
    files = {"train-images-idx3-ubyte.gz": images, "train-labels-idx1-ubyte.gz": labels,
             "t10k-images-idx3-ubyte.gz": images, "t10k-labels-idx1-ubyte.gz": labels}
    if problem == "truncated":
        files["train-images-idx3-ubyte.gz"] = images[:-3]
    if problem == "magic":
        files["train-labels-idx1-ubyte.gz"] = bytes([1, 2, 3, 4]) + labels[4:]
    if problem == "counts":
        files["t10k-labels-idx1-ubyte.gz"] = bytes([0, 0, 8, 1]) + (3).to_bytes(4, "big") + bytes(3)
    for name, body in files.items():
        with gzip.open(d / name, "wb") as f:
            f.write(body)
    if problem == "corrupt":
        (d / "train-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b not really gzip")
    if problem == "missing":
        (d / "t10k-images-idx3-ubyte.gz").unlink()
    return str(d)


def _custom(tmp_path, name, content):
    path = tmp_path / name
    if isinstance(content, dict):
        np.savez(path, **content)
    elif isinstance(content, np.ndarray):
        np.save(path, content)
    elif content is None:
        path.mkdir()
    else:
        path.write_text(content)
    return ["--set", "data.name=custom", "--set", f"data.path={json.dumps(str(path))}"]


BAD = {  # name: (arguments built from tmp_path, what the one line must say)
    "unknown key": (lambda t: ["--set", "train.epohcs=3"], "did you mean 'epochs'"),
    "unknown section": (lambda t: ["--set", "trian.epochs=3"], "unknown config key 'trian'"),
    "unknown nested key": (lambda t: ["--set", "model.latent_dims=3"], "did you mean 'latent_dim'"),
    "K < 1": (lambda t: ["--set", "model.n_clusters=0"], "model.n_clusters: got 0, must be >= 1"),
    "latent_dim < 1": (lambda t: ["--set", "model.latent_dim=0"], "model.latent_dim: got 0"),
    "lr <= 0": (lambda t: ["--set", "train.learning_rate=0"], "train.learning_rate: got 0.0, must be > 0"),
    "batch size < 1": (lambda t: ["--set", "train.batch_size=0"], "train.batch_size: got 0"),
    "batch larger than data": (lambda t: ["--set", "train.batch_size=5000"], "larger than the 1797 samples"),
    "negative epochs": (lambda t: ["--epochs", "-1"], "train.epochs: got -1"),
    "unknown dataset": (lambda t: ["--set", "data.name=cifar"], "data.name: unknown value 'cifar'"),
    "unknown likelihood": (lambda t: ["--set", "model.likelihood=poisson"],
                           "model.likelihood: unknown value"),
    "wrong type": (lambda t: ["--set", "train.epochs=\"ten\""], "train.epochs: expected an integer"),
    "wrong bool": (lambda t: ["--set", "train.jit_compile=1"], "expected true or false"),
    "bad --set": (lambda t: ["--set", "train.epochs"], "expected section.key=value"),
    "set into a value": (lambda t: ["--set", "seed.x=1"], "seed: expected an integer"),
    "missing config": (lambda t: ["--config", str(t / "none.json")], "not found"),
    "malformed JSON": (lambda t: ["--config", _write(t / "c.json", '{"train": {"epochs": 3,}}')],
                       "not valid JSON: Expecting property name enclosed in double quotes at line 1 "
                       "column 24"),
    "noise rate": (lambda t: ["--set", "pretrain.noise_rate=1.5"], "pretrain.noise_rate: got 1.5"),
    "mnist without dir": (lambda t: ["--set", "data.name=mnist", "--set", "data.download=false"],
                          "data.dir is not set for mnist"),
    "missing data file": (lambda t: ["--set", "data.name=mnist", "--set", "data.download=false",
                                     "--data-dir", _mnist_dir(t, "missing")],
                          "t10k-images-idx3-ubyte.gz not found"),
    "truncated gzip": (lambda t: ["--set", "data.name=mnist", "--data-dir", _mnist_dir(t, "truncated")],
                       "truncated"),
    "corrupt gzip": (lambda t: ["--set", "data.name=mnist", "--data-dir", _mnist_dir(t, "corrupt")],
                     "corrupt"),
    "wrong IDX magic": (lambda t: ["--set", "data.name=mnist", "--data-dir", _mnist_dir(t, "magic")],
                        "bad magic number"),
    "mismatched counts": (lambda t: ["--set", "data.name=mnist", "--data-dir", _mnist_dir(t, "counts")],
                          "4 images but 3 labels"),
    "NaN features": (lambda t: _custom(t, "nan.npy", np.array([[0.5, np.nan]] * 8)), "NaN or Inf"),
    "Inf features": (lambda t: _custom(t, "inf.csv", "a,b\n1,inf\n2,3\n"), "NaN or Inf"),
    "outside [0, 1] for bernoulli": (lambda t: _custom(t, "big.npy", np.full((8, 2), 3.0)),
                                     "bernoulli likelihood needs [0, 1]"),
    "unreadable csv": (lambda t: _custom(t, "text.csv", "a,b\nx,y\n"), "non-numeric or missing value"),
    "string labels in npz": (lambda t: _custom(t, "named.npz", {"X": np.full((8, 2), 0.5),
                                                                "y": np.array(["cat", "dog"] * 4)}),
                             "labels must be integers, got str"),
    "data.path a directory": (lambda t: _custom(t, "folder.npy", None), "folder.npy is a directory"),
    "NaN learning rate": (lambda t: ["--set", "train.learning_rate=NaN"],
                          "train.learning_rate: got nan, must be a finite number"),
    "Infinity in a setting": (lambda t: ["--set", "train.lr_floor=-Infinity"],
                              "train.lr_floor: got -inf, must be a finite number"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_gets_one_line_and_exit_code_2(tmp_path, case):
    arguments, fragment = BAD[case]
    result = train_tiny(tmp_path / "run", *arguments(tmp_path))
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.startswith("error: ") and fragment in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()  # nothing written


def test_a_process_given_bad_input_exits_2_with_one_line_on_stderr(tmp_path):
    """The same contract seen from outside: the exit status and stderr of a real process."""
    arguments, fragment = BAD["unknown key"]
    result = train_tiny_process(tmp_path / "run", *arguments(tmp_path))
    assert result.returncode == 2 and result.stderr.startswith("error: ") and fragment in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "run").exists()
