import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="module")
def mirrored(tmp_path_factory):
    script = Path(__file__).parent / "mirrored_replicas.py"
    run_dir = tmp_path_factory.mktemp("mirrored") / "run"
    result = subprocess.run([sys.executable, str(script), str(run_dir)], capture_output=True, text=True,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1]), run_dir


@pytest.mark.slow
def test_two_mirrored_replicas_follow_the_one_device_trajectory(mirrored):
    """Same global batch, same updates: the loss is reduced over replicas as the global-batch mean."""
    report, _ = mirrored
    assert report["replicas"] == 2
    (one_losses, one_weights), (two_losses, two_weights) = report["one"], report["two"]
    np.testing.assert_allclose(two_losses, one_losses, rtol=1e-5)
    assert one_losses[-1] < one_losses[0]
    for a, b in zip(one_weights, two_weights):  # mixture included: kept in sync on both replicas
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_a_mirrored_run_pretrains_once_and_trains_to_the_clusters(mirrored):
    report, run_dir = mirrored
    assert report["run"]["acc"] > 0.95 and np.isfinite(report["run"]["elbo"])
    assert (run_dir / "model.weights.h5").exists() and (run_dir / "pretrain" / "init.json").exists()


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.mark.slow
def test_two_workers_on_localhost_train_the_same_model(tmp_path):
    """MultiWorkerMirroredStrategy, two processes on 127.0.0.1: both end with the same weights."""
    import multi_worker_run

    from vade_tf.exporting import load_run

    script = Path(__file__).parent / "multi_worker_run.py"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(Path(__file__).parent.parent)}
    pretrained = tmp_path / "pretrained"
    multi_worker_run.main("pretrain", str(pretrained))  # one process is enough: no strategy yet
    workers = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    processes = []
    for index in range(2):
        tf_config = json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})
        processes.append(subprocess.Popen(
            [sys.executable, str(script), "train", str(tmp_path / f"worker{index}"), str(pretrained)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**env, "TF_CONFIG": tf_config}))
    outputs = [p.communicate(timeout=600) for p in processes]
    for process, (_, stderr) in zip(processes, outputs):
        assert process.returncode == 0, stderr[-3000:]
    reports = [json.loads(stdout.strip().splitlines()[-1]) for stdout, _ in outputs]
    assert reports[0] == reports[1] and reports[0]["acc"] > 0.95
    (chief, *_), (other, *_) = load_run(tmp_path / "worker0"), load_run(tmp_path / "worker1")
    for a, b in zip(chief.get_weights(), other.get_weights()):  # mixture and networks alike
        np.testing.assert_array_equal(a, b)


def test_multi_worker_without_a_shared_pretraining_is_refused_before_any_work(tmp_path):
    from vade_tf.config import load_config
    from vade_tf.data import Dataset
    from vade_tf.errors import ConfigError
    from vade_tf.runs import train_and_evaluate

    data = Dataset(x=np.zeros((200, 4), np.float32), y=None, name="zeros")
    with pytest.raises(ConfigError, match="multi_worker needs pretrain.from_dir"):
        train_and_evaluate(load_config(overrides={"train.strategy": "multi_worker"}), tmp_path / "run",
                           verbose=0, data=data)
    assert not (tmp_path / "run" / "config.json").exists()
