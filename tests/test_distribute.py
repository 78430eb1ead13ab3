import json
import os
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


def test_two_mirrored_replicas_follow_the_one_device_trajectory(mirrored):
    """Same global batch, same updates: the loss is reduced over replicas as the global-batch mean."""
    report, _ = mirrored
    assert report["replicas"] == 2
    (one_losses, one_weights), (two_losses, two_weights) = report["one"], report["two"]
    np.testing.assert_allclose(two_losses, one_losses, rtol=1e-5)
    assert one_losses[-1] < one_losses[0]
    for a, b in zip(one_weights, two_weights):  # mixture included: kept in sync on both replicas
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5)


def test_a_mirrored_run_pretrains_once_and_trains_to_the_clusters(mirrored):
    report, run_dir = mirrored
    assert report["run"]["acc"] > 0.95 and np.isfinite(report["run"]["elbo"])
    assert (run_dir / "model.weights.h5").exists() and (run_dir / "pretrain" / "init.json").exists()
