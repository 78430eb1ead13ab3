"""The one-command GPU check in its tiny mode, on whatever device this machine has (CI: the CPU), so
the tool that proves the GPU path cannot rot between the runs on a GPU. It runs as users run it, in
a process of its own: its mirrored strategy and mixed-precision models stay out of this one."""
import json
import subprocess
import sys

from conftest import ROOT

from benchmarks import gpu_check


def test_the_gpu_check_runs_every_check_in_tiny_mode_and_records_them(tmp_path):
    out = tmp_path / "gpu.json"
    result = subprocess.run([sys.executable, "-m", "benchmarks.gpu_check", "--tiny", "--out", out],
                            capture_output=True, text=True, timeout=600, cwd=ROOT)  # benchmarks/ is there
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "all checks passed" in result.stdout
    record = json.loads(out.read_text())
    assert record["mode"] == "tiny" and record["failures"] == []
    batches = gpu_check.SIZES["tiny"]["batches"]
    expected = [f"batch_{b}/{p}" for b in batches for p in gpu_check.PRECISIONS]
    assert sorted(record["vade_epochs"]) == sorted(expected)
    for key, epoch in record["vade_epochs"].items():
        assert epoch["epoch_seconds"] > 0 and epoch["steps"] > 0, key
        if not key.endswith("/none"):
            assert epoch["within_tolerance"], (key, epoch)
    assert record["stl10"]["feature_shape"] == [gpu_check.SIZES["tiny"]["images"], 2048]
    assert record["mirrored"]["served_shape"] == [8, gpu_check.SIZES["tiny"]["k"]]
