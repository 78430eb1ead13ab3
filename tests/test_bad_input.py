"""Bad input gets one line naming the problem and the fix, exit code 2, and nothing written."""
import gzip
import json

import numpy as np
import pytest
from conftest import run_main, train_tiny, train_tiny_process


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
    return ["--set", "data.name=custom", "--set", f"data.options.path={json.dumps(str(path))}"]


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
    "outside [0, 1] for bernoulli": (lambda t: [*_custom(t, "big.npy", np.full((8, 2), 3.0)),
                                                "--set", "model.likelihood=bernoulli"],
                                     "bernoulli likelihood needs [0, 1]"),
    "identical rows": (lambda t: _custom(t, "same.npy", np.full((60, 5), 0.5)),
                       "same has 1 distinct rows, fewer than model.n_clusters=10"),
    "unreadable csv": (lambda t: _custom(t, "text.csv", "a,b\nx,y\n"), "near line 2: a non-numeric"),
    "string labels in npz": (lambda t: _custom(t, "named.npz", {"X": np.full((8, 2), 0.5),
                                                                "y": np.array(["cat", "dog"] * 4)}),
                             "labels must be integers, got str"),
    "data.options.path a directory": (lambda t: _custom(t, "folder.npy", None), "folder.npy is a directory"),
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


def _estimator_x(n=30, d=4):
    return np.random.default_rng(0).normal(size=(n, d))


# VaDEClustering.fit's bad input: (features, parameters, what the one-line ValueError must say).
ESTIMATOR_BAD = {
    "NaN features": (lambda: np.where(_estimator_x() > 1, np.nan, _estimator_x()), {},
                     "Input X contains NaN"),
    "1-D features": (lambda: _estimator_x()[:, 0], {}, "got 1D input instead. Reshape your data"),
    "text features": (lambda: np.array([["a", "b"]] * 30), {}, "could not convert"),
    "fewer samples than clusters": (lambda: _estimator_x(n=2), {"n_clusters": 3},
                                    "n_samples=2 should be >= n_clusters=3"),
    "K < 1": (lambda: _estimator_x(), {"n_clusters": 0}, "model.n_clusters: got 0, must be >= 1"),
    "NaN learning rate": (lambda: _estimator_x(), {"learning_rate": float("nan")}, "must be a finite number"),
    "unknown pretraining": (lambda: _estimator_x(), {"pretrain": "deep"}, "pretrain.method: unknown value"),
    "a parameter in settings": (lambda: _estimator_x(), {"settings": {"train.epochs": 3}},
                                "set it with the epochs parameter instead"),
    "unknown setting": (lambda: _estimator_x(), {"settings": {"train.epohcs": 3}}, "did you mean 'epochs'"),
    "outside [0, 1] for bernoulli": (lambda: _estimator_x(), {"likelihood": "bernoulli"},
                                     "bernoulli likelihood needs [0, 1]"),
}


@pytest.mark.parametrize("case", sorted(ESTIMATOR_BAD))
def test_the_estimator_refuses_bad_input_with_one_line_before_training(tmp_path, case):
    from vade_tf import VaDEClustering

    features, params, fragment = ESTIMATOR_BAD[case]
    with pytest.raises(ValueError) as refused:
        VaDEClustering(run_dir=tmp_path / "run", **params).fit(features())
    message = str(refused.value)
    assert fragment in message and len(message.strip().splitlines()) == 1, message
    assert not (tmp_path / "run").exists()  # nothing written


def test_the_estimator_keeps_a_folder_that_holds_something(tmp_path):
    from vade_tf import VaDEClustering

    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="is not empty; pass a new folder"):
        VaDEClustering(run_dir=tmp_path).fit(_estimator_x())
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def _rows(tmp_path, name, content):
    path = tmp_path / name
    if isinstance(content, np.ndarray):
        np.save(path, content)
    elif content is not None:
        path.write_text(content)
    return path


# vade-predict's bad input against the shared digits run (64 features in [0, 1], a Bernoulli model):
# (--input made from tmp_path, what the one line must say).
PREDICT_BAD = {
    "wrong feature count": (lambda t: _rows(t, "x.npy", np.zeros((5, 10))),
                            "rows have 10 features but the model takes 64"),
    "NaN in a csv": (lambda t: _rows(t, "x.csv", ",".join(map(str, range(64))) + "\n" +
                                     ",".join(["0.5"] * 63 + ["nan"]) + "\n"),
                     "x.csv rows 1-1: features contain NaN or Inf"),
    "text in a csv": (lambda t: _rows(t, "x.csv", "a,b\nx,y\n"), "near line 2: a non-numeric"),
    "empty csv": (lambda t: _rows(t, "x.csv", ""), "is empty; expected a header row"),
    "missing input": (lambda t: t / "none.npy", "none.npy not found"),
    "unsupported format": (lambda t: _rows(t, "x.txt", "1 2 3"), "unsupported format '.txt'"),
    "1-D array": (lambda t: _rows(t, "x.npy", np.zeros(64)), "expected a numeric [samples, features] matrix"),
}


@pytest.mark.parametrize("case", sorted(PREDICT_BAD))
def test_predict_refuses_bad_input_with_one_line_and_exit_code_2(digits_run, tmp_path, case):
    from vade_tf.commands import predict

    make_input, fragment = PREDICT_BAD[case]
    result = run_main(predict.main, "--run-dir", digits_run[0], "--input", make_input(tmp_path),
                      "--output", tmp_path / "out.csv")
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.startswith("error: ") and fragment in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert not (tmp_path / "out.csv").exists()
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left


def test_predict_explains_a_model_folder_it_cannot_use(tmp_path):
    from vade_tf.commands import predict

    np.save(tmp_path / "x.npy", np.zeros((2, 4)))
    for flag, fragment in (("--run-dir", "run directory"),
                           ("--export-dir", "is not a vade-export version folder")):
        result = run_main(predict.main, flag, tmp_path / "nothing", "--input", tmp_path / "x.npy",
                          "--output", tmp_path / "out.csv")
        assert result.returncode == 2 and fragment in result.stderr and len(result.stderr.splitlines()) == 1
