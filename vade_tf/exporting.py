"""Run directory -> versioned SavedModel for TF Serving (``BASE/<version>/``), written atomically.

The version is built in a hidden temporary folder beside the others and renamed into place, so a
TF Serving instance watching BASE never sees half a version, and a failure leaves nothing behind.
``assets/`` carries the input contract (shape, dtype, the preprocessing raw data needs, the
cluster-to-label map when training had labels) and the training config; ``assets.extra/`` the
warm-up requests TF Serving replays on load (when tensorflow-serving-api is installed).
"""
from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path
from typing import Optional

from vade_tf import files, rundir
from vade_tf.errors import ExportError
from vade_tf.registry import DATASETS

CONTRACT_FILE = "input_contract.json"
WARMUP_FILE = "tf_serving_warmup_requests"


def _read_json(path: Path, run_dir: Path) -> dict:
    if not path.exists():
        raise ExportError(f"{run_dir} is not a finished run: {path.name} is missing "
                          "(train.py writes it at the end of a run); pass a completed --run-dir")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ExportError(f"{path} is corrupt ({e.msg}); re-run training or restore the file") from None


def check_run(run_dir: Path) -> tuple[dict, dict, dict]:
    """(model spec, config, metrics) of a finished, compatible run, checked without TensorFlow,
    so a bad --run-dir gets its one-line error before TensorFlow's start-up chatter."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ExportError(f"run directory {run_dir} not found; pass the --run-dir that train.py wrote")
    spec = _read_json(run_dir / rundir.MODEL_SPEC, run_dir)
    config = _read_json(run_dir / rundir.CONFIG_FILE, run_dir)
    metrics = _read_json(run_dir / rundir.METRICS_FILE, run_dir)
    if not (run_dir / rundir.MODEL_WEIGHTS).exists():
        raise ExportError(f"{run_dir} is not a finished run: {rundir.MODEL_WEIGHTS} is missing; "
                          "pass a completed --run-dir")
    if set(spec) != rundir.MODEL_SPEC_KEYS:
        different = sorted(set(spec) ^ rundir.MODEL_SPEC_KEYS)
        raise ExportError(f"{run_dir / rundir.MODEL_SPEC} was written by another vade_tf (keys differ: "
                          f"{', '.join(different)}); train the run again, or use the version that trained it")
    return spec, config, metrics


def load_run(run_dir: Path):
    """(trained VaDE, config dict, metrics dict) from a finished run directory."""
    from vade_tf.model import VaDE

    spec, config, metrics = check_run(run_dir)
    weights = Path(run_dir) / rundir.MODEL_WEIGHTS
    model = VaDE.from_config(spec)
    model.build((None, model.input_dim))
    try:
        model.load_weights(weights)
    except (ValueError, OSError) as e:
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ExportError(f"{weights} does not fit {rundir.MODEL_SPEC} ({first_line}); the run directory "
                          "is from an incompatible version or was altered") from None
    return model, config, metrics


def input_contract(module, config: dict, metrics: dict) -> dict:
    data_name = config.get("data", {}).get("name", "custom")
    images = module.image_features is not None
    contract = {
        "input": module.input_name,
        "shape": [None, *module.image_features.input_shape[1:]] if images else [None, module.model.input_dim],
        "dtype": "float32",
        "preprocessing": ("96x96 RGB images, values 0-255, height-width-channel order" if images
                          else DATASETS.get(data_name, DATASETS["custom"]).preprocessing),
        "dataset": data_name,
        "n_clusters": module.model.n_clusters,
        "latent_dim": module.model.latent_dim,
        "likelihood": module.model.likelihood,
        "signatures": module.outputs(),
    }
    if "cluster_to_label" in metrics:
        contract["cluster_to_label"] = metrics["cluster_to_label"]
        contract["training_scores"] = {k: metrics[k] for k in ("acc", "nmi", "ari") if k in metrics}
    return contract


def write_warmup(version_dir: Path, module) -> bool:
    """TF Serving's warm-up records (PredictionLog), one request per signature; False without the API."""
    try:
        from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2
    except ImportError:
        return False
    import tensorflow as tf

    # One request per signature: zeros of each input's spec, a batch of one.
    requests = {name: {spec.name: tf.zeros([1 if size is None else size for size in spec.shape], spec.dtype)
                       for spec in specs}
                for name, (_, specs) in module.endpoints().items()}
    folder = version_dir / "assets.extra"
    folder.mkdir()
    with tf.io.TFRecordWriter(str(folder / WARMUP_FILE)) as writer:
        for signature, inputs in requests.items():
            request = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(signature_name=signature))
            for name, value in inputs.items():
                request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
            log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
            writer.write(log.SerializeToString())
    return True


def next_version(base: Path) -> int:
    if not base.exists():
        return 1
    return max((int(p.name) for p in base.iterdir() if p.is_dir() and p.name.isdigit()), default=0) + 1


def build_module(run_dir: Path, images: bool = False):
    """The serving module of a run; ``images`` puts the STL-10 ResNet-50 extractor in front."""
    from vade_tf.serving import VaDEServing

    model, config, metrics = load_run(run_dir)
    image_features = None
    if images:
        if config.get("data", {}).get("name") != "stl10":
            raise ExportError("--images needs a run trained on stl10 features; this run used "
                              f"{config.get('data', {}).get('name')!r}")
        from vade_tf.data.stl10 import feature_extractor
        image_features = feature_extractor(config["data"]["options"]["feature_weights"])
    return VaDEServing(model, image_features), config, metrics


def write_version(module, config: dict, metrics: dict, base: Path, version: Optional[int] = None,
                  overwrite: bool = False) -> dict:
    """Save ``module`` as ``base/<version>/`` via a staging folder and a rename; returns what was written."""
    base = Path(base)
    version = next_version(base) if version is None else version
    if version < 1:
        raise ExportError(f"--model-version must be a positive integer, got {version}")
    target = base / str(version)
    if target.exists() and not overwrite:
        raise ExportError(f"{target} already exists; pass --overwrite to replace it, or omit --model-version "
                          f"to write version {next_version(base)}")
    base.mkdir(parents=True, exist_ok=True)
    staging = base / f".staging-{version}-{uuid.uuid4().hex[:8]}"
    try:
        module.archive().write_out(str(staging), verbose=False)
        assets = staging / "assets"
        assets.mkdir(exist_ok=True)
        files.write_json(assets / CONTRACT_FILE, input_contract(module, config, metrics))
        files.write_json(assets / rundir.CONFIG_FILE, config)
        warmup = write_warmup(staging, module)
        if target.exists():  # --overwrite: swap, then drop the old version
            retired = base / f".retired-{version}-{uuid.uuid4().hex[:8]}"
            target.rename(retired)
            staging.rename(target)
            shutil.rmtree(retired)
        else:
            staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return {"path": str(target), "version": version, "warmup": warmup}


def export(run_dir: Path, base: Path, version: Optional[int] = None, overwrite: bool = False,
           images: bool = False) -> dict:
    """Export a finished run as a versioned SavedModel for TF Serving: load the run, build its serving
    module, write the version.

    Parameters
    ----------
    run_dir : Path
        A finished run directory (vade-train's, or ``VaDEClustering.save``'s).
    base : Path
        The model's base folder; the version is written as ``base/<version>/``.
    version : int, optional
        The version number; the next free one when None.
    overwrite : bool
        Replace an existing version of that number.
    images : bool
        For an image dataset whose rows are features of images (STL-10), serve the images.

    Returns
    -------
    dict
        What was written: ``version``, ``path`` and ``warmup`` (whether warm-up requests were added).

    Raises
    ------
    ExportError
        The run is not finished or not readable, or the version exists without ``overwrite``.
    """
    module, config, metrics = build_module(Path(run_dir), images)
    return write_version(module, config, metrics, base, version, overwrite)
