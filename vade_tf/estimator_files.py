"""``VaDEClustering`` on disk: the run directory a fit trains in; ``save`` and ``load``, which add two
files to a run directory so that ``load`` gives back the estimator itself, not only its model."""
from __future__ import annotations

import contextlib
import json
import tempfile
from pathlib import Path

import numpy as np
from sklearn.utils.validation import check_is_fitted

from vade_tf import files, rundir
from vade_tf.config import config_from_dict
from vade_tf.parameters import params_of

ESTIMATOR_FILE = "estimator.json"  # the parameters and input names a saved estimator was fitted with
LABELS_FILE = "labels.npy"         # labels_: the cluster of every sample it was fitted on


@contextlib.contextmanager
def fit_directory(run_dir):
    """``run_dir``, which must be new or empty (a fit starts afresh), or a temporary one."""
    if run_dir is None:
        with tempfile.TemporaryDirectory(prefix="vade-fit-") as folder:
            yield Path(folder) / "run"
        return
    run_dir = Path(run_dir)
    if run_dir.exists() and any(run_dir.iterdir()):
        raise ValueError(f"run_dir {str(run_dir)!r} is not empty; pass a new folder (a fit starts afresh), "
                         "or read a finished run with VaDEClustering.load")
    yield run_dir


def save_estimator(estimator, path) -> None:
    """``VaDEClustering.save``: its run directory, with its parameters, input width and names, and
    ``labels_`` beside the model."""
    check_is_fitted(estimator, "weights_")
    path = Path(path)
    if path.exists() and any(path.iterdir()):
        raise ValueError(f"{path} is not empty; save into a new folder")
    path.mkdir(parents=True, exist_ok=True)
    params = {**estimator.get_params(), "random_state": estimator.config_.seed, "run_dir": None}
    saved = {"params": json.loads(json.dumps(params)), "n_features_in": estimator.n_features_in_}
    if hasattr(estimator, "feature_names_in_"):
        saved["feature_names_in"] = estimator.feature_names_in_.tolist()
    files.write_json(path / ESTIMATOR_FILE, saved)
    if hasattr(estimator, "labels_"):
        files.save_npy(path / LABELS_FILE, estimator.labels_)
    rundir.write_run(path, estimator._trained.model, estimator.config_.to_dict(), estimator.metrics_)


def load_estimator(cls, path):
    """``VaDEClustering.load``: the estimator ``save`` wrote, or one made of vade-train's run, whose
    config becomes the parameters."""
    from vade_tf.exporting import load_run

    path = Path(path)
    model, config, metrics = load_run(path)
    config = config_from_dict(config)
    if (path / ESTIMATOR_FILE).exists():
        saved = json.loads((path / ESTIMATOR_FILE).read_text())
        if isinstance(saved["params"]["hidden_dims"], list):
            saved["params"]["hidden_dims"] = tuple(saved["params"]["hidden_dims"])
        estimator = cls(**saved["params"])
    else:
        saved = {"n_features_in": model.input_dim}
        estimator = cls(**params_of(config))
    estimator.n_features_in_ = saved["n_features_in"]
    if "feature_names_in" in saved:
        estimator.feature_names_in_ = np.asarray(saved["feature_names_in"], dtype=object)
    if (path / LABELS_FILE).exists():
        estimator.labels_ = np.load(path / LABELS_FILE)
    estimator._fitted(model, config, metrics)
    return estimator
