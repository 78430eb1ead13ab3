"""The one-command GPU check in its tiny mode, on whatever device this machine has (CI: the CPU), so
the tool that proves the GPU path cannot rot between the runs on a GPU."""
import json

from vade_tf.tools import gpu_check


def test_the_gpu_check_runs_every_check_in_tiny_mode_and_records_them(tmp_path, capsys):
    out = tmp_path / "gpu.json"
    assert gpu_check.main(["--tiny", "--out", str(out)]) == 0, capsys.readouterr().out
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
    assert "all checks passed" in capsys.readouterr().out
