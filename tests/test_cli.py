"""train.py end to end on the embedded digits, in this process: every artefact, the pretraining cache
and borrowed partitions, restart selection, and the template for users' own data."""
import json
import shutil

import numpy as np
import pytest
from conftest import DIGITS_EPOCHS, FAST, ROOT, run_main, set_args, train_tiny

from vade_tf import rundir
from vade_tf.commands import train
from vade_tf.config import load_config
from vade_tf.data import load_dataset
from vade_tf.inference import assign_clusters
from vade_tf.metrics import cluster_accuracy
from vade_tf.model import VaDE


def _train(run_dir, *extra):
    """train.py on the embedded digits in this process, as the shared digits run was trained but
    without its pictures (they are not part of a checkpoint's identity: these runs can resume it or
    borrow its pretraining)."""
    return train_tiny(run_dir, "--epochs", str(DIGITS_EPOCHS), *extra)


def test_cli_trains_the_embedded_default_and_writes_every_artefact(digits_run):
    run_dir, printed = digits_run
    last_line = printed.strip().splitlines()[-1]
    assert last_line.startswith("final: acc ") and " nmi " in last_line and " ari " in last_line
    for name in (rundir.CONFIG_FILE, rundir.METRICS_FILE, rundir.MODEL_WEIGHTS, rundir.MODEL_SPEC,
                 f"{rundir.PRETRAIN_DIR}/{rundir.PRETRAIN_WEIGHTS}",
                 f"{rundir.PRETRAIN_DIR}/{rundir.PRETRAIN_INFO}", "samples.png", "tsne.png", "confusion.png"):
        assert (run_dir / name).is_file(), name
    assert list((run_dir / rundir.CHECKPOINT_DIR).glob("ckpt-*.index"))
    assert list((run_dir / "logs").rglob("events.out.tfevents.*"))
    metrics = json.loads((run_dir / rundir.METRICS_FILE).read_text())
    for key in ("acc", "nmi", "ari", "v_measure", "elbo", "wall_time_s", "seed", "versions"):
        assert key in metrics, key
    assert f"acc {metrics['acc']:.4f}" in last_line
    assert [e["epoch"] for e in metrics["restarts"][0]["epochs"]] == [1, 2, 3]
    assert all("acc" in e for e in metrics["restarts"][0]["epochs"])
    config = json.loads((run_dir / rundir.CONFIG_FILE).read_text())
    assert config["data"]["name"] == "digits" and config["train"]["epochs"] == 3


def test_saved_model_rebuilds_from_its_spec_alone(digits_run):
    """model.json + model.weights.h5 reproduce the reported ACC without the training code."""
    run_dir, _ = digits_run
    model = VaDE.from_config(json.loads((run_dir / rundir.MODEL_SPEC).read_text()))
    model.build((None, 64))
    model.load_weights(run_dir / rundir.MODEL_WEIGHTS)
    data = load_dataset(load_config(run_dir / rundir.CONFIG_FILE).data)
    metrics = json.loads((run_dir / rundir.METRICS_FILE).read_text())
    assert cluster_accuracy(data.y, assign_clusters(model, data.x)) == pytest.approx(metrics["acc"])


def test_pretraining_cache_is_reused_only_for_the_same_config(digits_run, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(digits_run[0], run_dir)  # a copy: other tests read the shared run
    info = run_dir / rundir.PRETRAIN_DIR / rundir.PRETRAIN_INFO
    stamp = info.stat().st_mtime_ns
    again = _train(run_dir)
    assert again.returncode == 0 and "pretraining reused" in again.stdout
    assert info.stat().st_mtime_ns == stamp
    # The same run directory refuses another config: its checkpoints belong to the first one.
    changed = _train(run_dir, "--set", "pretrain.noise_rate=0.1")
    assert changed.returncode == 2 and "holds a checkpoint of another config" in changed.stderr
    assert info.stat().st_mtime_ns == stamp
    # Another run can borrow the pretraining, but only when its config produced it.
    borrowed = _train(tmp_path / "other", "--set", f"pretrain.from_dir={json.dumps(str(run_dir))}")
    assert borrowed.returncode == 0 and "pretraining reused from" in borrowed.stdout
    refused = _train(tmp_path / "third", "--set", f"pretrain.from_dir={json.dumps(str(run_dir))}",
                     "--set", "pretrain.noise_rate=0.3")
    assert refused.returncode == 2 and "pretrain.from_dir" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_another_partition_reuses_the_autoencoder_and_leaves_the_source_as_it_was(digits_run, tmp_path):
    run_dir, _ = digits_run
    source_info = run_dir / rundir.PRETRAIN_DIR / rundir.PRETRAIN_INFO
    stamp = source_info.stat().st_mtime_ns
    other = tmp_path / "gmm-start"
    result = _train(other, "--set", f"pretrain.from_dir={json.dumps(str(run_dir))}",
                    "--set", 'pretrain.mixture_init="gmm"')
    assert result.returncode == 0, result.stderr[-3000:]
    assert "autoencoder reused from" in result.stdout and "pretraining end-to-end" not in result.stdout
    own = json.loads((other / rundir.PRETRAIN_DIR / rundir.PRETRAIN_INFO).read_text())
    borrowed = json.loads(source_info.read_text())
    assert own["fingerprint"]["pretrain"]["mixture_init"] == "gmm"
    assert borrowed["fingerprint"]["pretrain"]["mixture_init"] == "spectral"
    assert own["losses"] == borrowed["losses"]  # the autoencoder was not trained again
    assert (other / rundir.PRETRAIN_DIR / rundir.PRETRAIN_PARTITION).exists()
    assert source_info.stat().st_mtime_ns == stamp


def test_partition_warmup_trains_from_the_saved_partition(digits_run, tmp_path):
    run_dir, _ = digits_run
    partition = np.load(run_dir / rundir.PRETRAIN_DIR / rundir.PRETRAIN_PARTITION)
    assert partition.shape == (1797,) and set(np.unique(partition)) <= set(range(10))
    split = _train(tmp_path / "split", "--set", f"pretrain.from_dir={json.dumps(str(run_dir))}",
                   "--set", "train.partition_warmup_epochs=1", "--set", "train.validation_fraction=0.1")
    # The borrowed partition steers the warm-up; the held-out rows leave it with them.
    assert split.returncode == 0, split.stderr[-2000:]


def test_restart_selection_trains_only_the_best_early_elbo_to_the_end(tmp_path):
    result = _train(tmp_path, "--set", "train.restarts=2", "--set", "train.restart_selection_epochs=1")
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((tmp_path / rundir.METRICS_FILE).read_text())
    records = metrics["restarts"]
    early = [r.get("selection", r["final"])["elbo"] for r in records]
    best = records[metrics["best_restart"]]
    assert metrics["best_restart"] == int(np.argmax(early)) and "selection" in best
    assert [len(r["epochs"]) for r in records] == [DIGITS_EPOCHS if r is best else 1 for r in records]
    assert metrics["elbo"] == best["final"]["elbo"]
    for r in range(2):  # each restart pretrained its own autoencoder
        assert (tmp_path / f"restart_{r}" / rundir.PRETRAIN_DIR / rundir.PRETRAIN_INFO).is_file()


def test_the_custom_template_keeps_small_separated_data_apart(tmp_path):
    """configs/custom.json, as a user with a small matrix runs it (an .npz of 320 samples, K = 8 real-
    valued clusters): no epoch puts (nearly) every sample in one cluster, and VaDE ends at or above the
    partition it starts from."""
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(8), 40)
    centres = rng.normal(scale=4.0, size=(8, 30))
    x = (centres[y] + rng.normal(size=(len(y), 30))).astype(np.float32)
    np.savez(tmp_path / "mine.npz", X=x, y=y)
    result = run_main(train.main, "--config", ROOT / "configs" / "custom.json",
                      "--run-dir", tmp_path / "run", "--epochs", "20", "--quiet",
                      "--set", f"data.options.path={json.dumps(str(tmp_path / 'mine.npz'))}",
                      "--set", "model.n_clusters=8", *set_args(FAST))
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((tmp_path / "run" / rundir.METRICS_FILE).read_text())
    epochs = metrics["restarts"][0]["epochs"]
    assert len(epochs) == 20 and max(e["largest_cluster"] for e in epochs) < 0.5
    start = metrics["restarts"][0]["init"]["partition"]["acc"]
    assert metrics["acc"] >= start - 1e-9 and metrics["acc"] > 0.9, (start, metrics["acc"])


def test_every_installed_command_answers_version_and_runs_its_module(capsys):
    """vade-train, vade-export, vade-experiment and vade-predict are the package's console scripts;
    each names itself and the package version on --version and exits 0, before any work."""
    import importlib
    from importlib.metadata import entry_points

    import vade_tf

    scripts = {point.name: point for point in entry_points(group="console_scripts")
               if point.name.startswith("vade-")}
    assert sorted(scripts) == ["vade-experiment", "vade-export", "vade-predict", "vade-train"]
    for name, point in scripts.items():
        module, _, function = point.value.partition(":")
        assert module == "vade_tf.commands." + name.removeprefix("vade-") and function == "main"
        main = point.load()
        assert main is importlib.import_module(module).main
        with pytest.raises(SystemExit) as stopped:
            main(["--version"])
        assert stopped.value.code == 0
        assert capsys.readouterr().out.strip().endswith(f"(vade-tf) {vade_tf.__version__}")


def test_a_run_prints_each_epoch_once_and_none_of_tensorflows_log(tmp_path):
    """A fresh process as a user starts it (no TF_CPP_MIN_LOG_LEVEL of their own), its output in a
    file: stderr holds nothing, stdout one line per epoch and phase, then where to look, then the result."""
    import os
    import re
    import subprocess
    import sys

    from conftest import TINY_TRAIN

    env = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run([sys.executable, ROOT / "train.py", "--run-dir", tmp_path / "run", *TINY_TRAIN,
                             "--epochs", "3"], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stderr == "", result.stderr[:3000]  # no C++ start-up lines, no warnings
    lines = result.stdout.splitlines()
    assert [line.split(" (")[0] for line in lines if re.match(r"epoch \d", line)] == \
        ["epoch 1/3", "epoch 2/3", "epoch 3/3"]
    assert not [line for line in lines if line.startswith("Epoch ")]  # Keras's own lines: on a terminal
    assert any(line.startswith("pretraining (plain) ... ") for line in lines)
    assert any(line.startswith("VaDE training, 3 epochs ... ") for line in lines)
    assert lines[-2].startswith(f"run directory {tmp_path / 'run'}; figures: ") and \
        f"tensorboard --logdir {tmp_path / 'run' / 'logs'}" in lines[-2]
    assert lines[-1].startswith("final: acc ")
