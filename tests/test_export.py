"""Export for TF Serving: round trip in a fresh process, the CLI tools' view, atomicity, bad run dirs."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from conftest import FAST, run_main

from vade_tf import exporting, rundir
from vade_tf.commands import export
from vade_tf.config import load_config
from vade_tf.data import Dataset
from vade_tf.errors import ExportError
from vade_tf.runs import train_and_evaluate

ROOT = Path(__file__).parent.parent
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
TINY = {**FAST, "model.networks.hidden_dims": [32, 16], "model.latent_dim": 3, "pretrain.method": "plain",
        "pretrain.epochs": 2, "train.epochs": 1, "pretrain.gmm_n_init": 1, "train.steps_per_execution": 4}

# Runs in a fresh interpreter: loads each export with TensorFlow alone and calls every signature.
LOAD_AND_CALL = """
import sys, numpy as np, tensorflow as tf
for path, inputs_file, out_file in zip(*[iter(sys.argv[1:])] * 3):
    inputs = np.load(inputs_file)
    loaded = tf.saved_model.load(path)
    out = {}
    for batch in (1, 5):
        x = tf.constant(inputs["x"][:batch])
        for signature in ("serving_default", "embed"):
            for k, v in loaded.signatures[signature](**{inputs["input_name"].item(): x}).items():
                out[f"{batch}/{signature}/{k}"] = v.numpy()
        generated = loaded.signatures["generate"](cluster=tf.constant(inputs["clusters"][:batch]),
                                                  seed=tf.constant(7, tf.int64))
        out.update({f"{batch}/generate/{k}": v.numpy() for k, v in generated.items()})
    bad_inputs = {"int64": tf.zeros(x.shape, tf.int64), "one value short": x[..., :-1],
                  "text": tf.fill(x.shape, "x")}
    for problem, bad in bad_inputs.items():
        try:
            loaded.signatures["serving_default"](**{inputs["input_name"].item(): bad})
            out[f"refused/{problem}"] = False
        except (TypeError, ValueError, tf.errors.InvalidArgumentError):
            out[f"refused/{problem}"] = True
    np.savez(out_file, **out)
assert "vade_tf" not in sys.modules and "tensorflow_probability" not in sys.modules, "imported our code"
"""


@pytest.fixture(scope="module")
def trained_run(digits_run):
    """The shared digits run (conftest): an MLP on the 8x8 digits, 3 latent dimensions."""
    return digits_run[0]


def _reference(module, x, clusters):
    out = {}
    for batch in (1, 5):
        for signature, function in (("serving_default", module.serve), ("embed", module.embed)):
            outputs = function(tf.constant(x[:batch]))
            out.update({f"{batch}/{signature}/{k}": v.numpy() for k, v in outputs.items()})
        generated = module.generate(tf.constant(clusters[:batch]), tf.constant(7, tf.int64))
        out.update({f"{batch}/generate/{k}": v.numpy() for k, v in generated.items()})
    return out


def _stl10_run(run_dir):
    """An STL-10 run on random features (the ResNet-50 extractor in front has random weights here)."""
    features = Dataset(x=np.random.default_rng(0).normal(size=(40, 2048)).astype(np.float32),
                       y=np.arange(40) % 10, name="stl10")
    config = load_config(ROOT / "configs" / "stl10.json", {**TINY, "data.options.feature_weights": None,
                                                           "train.batch_size": 20, "pretrain.batch_size": 20})
    train_and_evaluate(config, run_dir, verbose=0, data=features)


STARTED = {**TINY, "train.epochs": 0}  # pretrained and partitioned: every weight an export holds
CONV_STARTED = {**{k: v for k, v in STARTED.items() if k != "model.networks.hidden_dims"},  # an MLP's
                "model.architecture": "conv", "model.networks.filters": [4, 8], "model.networks.dense": [16]}
RUNS = {  # kind: (how to train it, whether the export takes images, a batch of its inputs)
    "mlp": (None, False, np.random.default_rng(0).uniform(size=(5, 64))),
    # Conv networks under a full-covariance prior: both departures from the MLP run in one export.
    "conv_full_covariance": (lambda run_dir: train_and_evaluate(load_config(overrides={
        **CONV_STARTED, "model.covariance": "full", "pretrain.mixture_init": "spectral"}), run_dir,
        verbose=0),
        False, np.random.default_rng(1).uniform(size=(5, 64))),
    "images": (_stl10_run, True, np.random.default_rng(0).uniform(0, 255, size=(5, 96, 96, 3))),
}


@pytest.fixture(scope="module")
def round_trips(trained_run, tmp_path_factory):
    """Each kind of run exported, then loaded and called in one fresh process without our code: kind
    -> (the serving module, what was written, the reference outputs, the fresh process's outputs)."""
    base = tmp_path_factory.mktemp("round-trips")
    exported, arguments = {}, []
    for kind, (train, images, x) in RUNS.items():
        run_dir = trained_run if train is None else base / kind / "run"
        if train is not None:
            train(run_dir)
        module, config, metrics = exporting.build_module(run_dir, images=images)
        written = exporting.write_version(module, config, metrics, base / kind / "models")
        clusters = np.arange(5, dtype=np.int64) % module.model.n_clusters
        x = x.astype(np.float32)
        np.savez(base / kind / "inputs.npz", x=x, clusters=clusters, input_name=np.array(module.input_name))
        arguments += [written["path"], base / kind / "inputs.npz", base / kind / "out.npz"]
        exported[kind] = (module, config, written, _reference(module, x, clusters))
    result = subprocess.run([sys.executable, "-c", LOAD_AND_CALL, *map(str, arguments)],
                            capture_output=True, text=True, cwd=base, env=ENV)
    assert result.returncode == 0, result.stderr[-3000:]
    return {kind: (*exported[kind], dict(np.load(base / kind / "out.npz"))) for kind in RUNS}


def _same_outputs(round_trip):
    """The fresh process computed what this one does, and refused int64, short and text inputs."""
    *_, expected, loaded = round_trip
    refused = {key: bool(value) for key, value in loaded.items() if key.startswith("refused/")}
    loaded = {key: value for key, value in loaded.items() if key not in refused}
    assert refused == {"refused/int64": True, "refused/one value short": True, "refused/text": True}
    assert sorted(loaded) == sorted(expected)
    for key, value in expected.items():
        np.testing.assert_allclose(loaded[key], value, rtol=1e-5, atol=1e-5, err_msg=key)


def test_export_round_trips_in_a_fresh_process_without_our_code(round_trips):
    _, config, written, *_ = round_trips["mlp"]
    _same_outputs(round_trips["mlp"])
    version = Path(written["path"])
    assert version.name == "1" and (version / "saved_model.pb").exists() and (version / "variables").is_dir()
    contract = json.loads((version / "assets" / exporting.CONTRACT_FILE).read_text())
    assert contract["shape"] == [None, 64] and "divided by 16" in contract["preprocessing"]
    assert set(contract["cluster_to_label"]) <= {str(c) for c in range(10)}
    assert json.loads((version / "assets" / rundir.CONFIG_FILE).read_text()) == config
    # The contract names each signature's outputs as the SavedModel serves them.
    served = tf.saved_model.load(str(version)).signatures
    assert contract["signatures"] == {"serving_default": ["cluster", "cluster_probs", "z_mean"],
                                      "embed": ["z_mean", "z_log_var"], "generate": ["x", "x_mean", "z"],
                                      "score": ["elbo"]}
    for name, outputs in contract["signatures"].items():
        assert sorted(served[name].structured_outputs) == sorted(outputs)


def test_warmup_file_holds_one_predict_request_per_signature(trained_run, tmp_path):
    from tensorflow_serving.apis import prediction_log_pb2

    written = exporting.export(trained_run, tmp_path / "models")
    warmup = Path(written["path"]) / "assets.extra" / exporting.WARMUP_FILE
    records = tf.data.TFRecordDataset(str(warmup))
    logs = [prediction_log_pb2.PredictionLog.FromString(r.numpy()) for r in records]
    names = [log.predict_log.request.model_spec.signature_name for log in logs]
    assert written["warmup"] and names == ["serving_default", "embed", "generate", "score"]


def test_saved_model_cli_sees_four_predict_signatures_and_runs_one(round_trips, tmp_path):
    """TensorFlow's own CLI on the export (each round trip above also checks that int64, one value
    short and text inputs are refused)."""
    path = round_trips["mlp"][2]["path"]
    cli = [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli"]
    shown = subprocess.run(cli + ["show", "--dir", path, "--all"], capture_output=True, text=True, env=ENV)
    assert shown.returncode == 0, shown.stderr[-2000:]
    for signature in ("serving_default", "embed", "generate", "score"):
        assert f"signature_def['{signature}']" in shown.stdout
    assert shown.stdout.count("Method name is: tensorflow/serving/predict") == 4
    assert "shape: (-1, 64)" in shown.stdout and "shape: (-1, 10)" in shown.stdout  # x and cluster_probs
    assert "shape: (-1, 3)" in shown.stdout and "dtype: DT_INT64" in shown.stdout  # z_mean, cluster
    np.save(tmp_path / "request.npy", np.zeros((2, 64), np.float32))
    request = ["run", "--dir", path, "--tag_set", "serve", "--signature_def", "serving_default",
               "--inputs", f"x={tmp_path / 'request.npy'}"]
    ok = subprocess.run(cli + request, capture_output=True, text=True, env=ENV)
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert "cluster_probs" in ok.stdout


def test_a_failed_export_leaves_nothing_and_versions_count_up(trained_run, tmp_path, monkeypatch):
    base = tmp_path / "models"

    def fail(*args):
        raise RuntimeError("disk full")
    monkeypatch.setattr(exporting, "write_warmup", fail)
    with pytest.raises(RuntimeError, match="disk full"):
        exporting.export(trained_run, base)
    assert list(base.iterdir()) == []
    monkeypatch.undo()
    assert exporting.export(trained_run, base)["version"] == 1
    assert exporting.export(trained_run, base)["version"] == 2
    with pytest.raises(ExportError, match="already exists; pass --overwrite"):
        exporting.export(trained_run, base, version=2)
    assert exporting.export(trained_run, base, version=2, overwrite=True)["version"] == 2
    assert sorted(p.name for p in base.iterdir()) == ["1", "2"]


@pytest.mark.parametrize("damage,fragment", [
    ("missing", "not found; pass the --run-dir"),
    ("unfinished", "metrics.json is missing"),
    ("incompatible", "written by another vade_tf"),
])
def test_export_cli_explains_an_unusable_run_dir_in_one_line(trained_run, tmp_path, damage, fragment):
    run_dir = tmp_path / "run"
    if damage != "missing":
        import shutil
        shutil.copytree(trained_run, run_dir)
        if damage == "unfinished":
            (run_dir / rundir.METRICS_FILE).unlink()
        else:
            spec = json.loads((run_dir / rundir.MODEL_SPEC).read_text())
            (run_dir / rundir.MODEL_SPEC).write_text(json.dumps({**spec, "encoder_kind": "conv"}))
    result = run_main(export.main, "--run-dir", run_dir, "--export-dir", tmp_path / "models")
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and fragment in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "models").exists()


def test_stl10_image_model_serves_96x96_images(round_trips):
    """--images: ResNet-50 in front of VaDE; the export takes images."""
    _same_outputs(round_trips["images"])
    contract = json.loads((Path(round_trips["images"][2]["path"]) / "assets" / exporting.CONTRACT_FILE)
                          .read_text())
    assert contract["input"] == "images" and contract["shape"] == [None, 96, 96, 3]


def test_a_conv_run_round_trips_like_an_mlp_run(round_trips):
    module = round_trips["conv_full_covariance"][0]
    options = module.model.network_options
    assert module.model.architecture == "conv" and list(options["image_shape"]) == [8, 8, 1]
    assert list(options["dense"]) == [16]
    _same_outputs(round_trips["conv_full_covariance"])


def test_a_full_covariance_run_round_trips_with_standard_ops_only(round_trips):
    """The full-covariance prior (Cholesky factors, triangular solves) serves from the SavedModel
    alone, and its generate signature draws z ~ N(mu_c, L_c L_c^T)."""
    module = round_trips["conv_full_covariance"][0]
    assert module.model.prior.covariance == "full"
    assert np.any(module.model.prior.scale_offdiag.numpy() != 0)  # the spectral clusters' tilt was kept
    _same_outputs(round_trips["conv_full_covariance"])


def test_a_run_from_the_flat_model_spec_is_refused_in_one_line(trained_run, tmp_path):
    """A run directory written before VaDE was composed of parts (model.json with the networks'
    settings as flat keys) is refused by export and by the estimator with one line saying what to do."""
    from vade_tf.errors import ExportError
    from vade_tf.estimator import VaDEClustering

    old = tmp_path / "old"
    old.mkdir()
    for name in (rundir.CONFIG_FILE, rundir.METRICS_FILE, rundir.MODEL_WEIGHTS):
        (old / name).write_bytes((trained_run / name).read_bytes())
    spec = json.loads((trained_run / rundir.MODEL_SPEC).read_text())
    flat_spec = {**{k: v for k, v in spec.items() if k != "networks"}, **spec["networks"]}
    (old / rundir.MODEL_SPEC).write_text(json.dumps(flat_spec))
    result = run_main(export.main, "--run-dir", old, "--export-dir", tmp_path / "models")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "(keys differ: hidden_dims, networks); train the run again" in result.stderr
    with pytest.raises(ExportError, match="written by another vade_tf"):
        VaDEClustering.load(old)
