"""The epoch benchmark at a toy size, so it cannot rot between the runs that fill results/, its FLOP
count against the paper's network counted by hand, and the PyTorch reference it races against
vade-tf's own ELBO on the same weights (where torch is installed; it is never a dependency)."""
import json

import numpy as np
import pytest
from conftest import make_vade

from benchmarks import bench_epoch


def test_the_flop_count_is_the_papers_network_counted_by_hand():
    model = make_vade(784, 10, latent_dim=10, hidden_dims=[500, 500, 2000])
    encoder = 784 * 500 + 500 * 500 + 500 * 2000 + 2 * 2000 * 10  # the mean and log-variance heads
    decoder = 10 * 2000 + 2000 * 500 + 500 * 500 + 500 * 784
    # Forward and weight-gradient products for every layer, input gradients for all but the first.
    assert bench_epoch.training_flops(bench_epoch.vade_layers(model), 70_000) == \
        70_000 * 2 * (3 * (encoder + decoder) - 784 * 500)


def test_a_toy_epoch_benchmark_records_both_bounds_and_a_runs_breakdown(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.json").write_text(json.dumps(
        {"command": "vade-train", "wall_time_s": 10.0, "seconds": {"pretraining": 6.0, "training": 3.0}}))
    config = tmp_path / "tiny.json"
    model = {"n_clusters": 3, "latent_dim": 2, "networks": {"hidden_dims": [16, 8]}}
    config.write_text(json.dumps({"model": model,
                                  "pretrain": {"method": "plain", "batch_size": 64}}))
    out = tmp_path / "bench.json"
    record = bench_epoch.main(["--samples", "256", "--batch-sizes", "64", "--tries", "1",
                               "--peak-size", "256", "--config", str(config), "--run-dir", str(run),
                               "--out", str(out)])
    assert json.loads(out.read_text()) == json.loads(json.dumps(record))
    keys = {"vade_epoch_batch_64", "pretrain_epoch", "pretrain_epoch_masking_noise", "encoder_pass"}
    assert set(record["seconds"]) == keys
    for kind, bounds in record["bound_seconds"].items():
        for key, bound in bounds.items():
            assert bound > 0 and record["ratio"][kind][key] == pytest.approx(record["seconds"][key] / bound)
    assert set(record["bound_seconds"]["own_gemm"]) == keys - {"encoder_pass"}
    breakdown = record["run_breakdown"]
    assert breakdown["seconds"]["other"] == pytest.approx(1.0)
    assert sum(breakdown["share"].values()) == pytest.approx(1.0)


def test_the_pytorch_reference_computes_vade_tfs_elbo_on_the_same_weights():
    torch = pytest.importorskip("torch")
    from benchmarks.reference_torch import VaDE as TorchVaDE

    torch.manual_seed(1)
    x = np.random.default_rng(0).uniform(size=(64, 784)).astype(np.float32)
    for covariance in ("diag", "full"):
        reference = TorchVaDE([50, 40, 60], latent=5, clusters=4, covariance=covariance)
        model = make_vade(784, 4, latent_dim=5, hidden_dims=[50, 40, 60], covariance=covariance)
        with torch.no_grad():
            reference.log_vars.normal_(0, 0.3)
            reference.pi_logits.normal_()
            if covariance == "full":
                reference.scale_offdiag.normal_(0, 0.2)
            # A deterministic z (posterior variance e^-30), so both sides see the same sample.
            reference.log_var.weight.zero_()
            reference.log_var.bias.fill_(-30.0)
        linears = [m for part in (reference.encoder, reference.mean, reference.log_var, reference.decoder)
                   for m in part.modules() if isinstance(m, torch.nn.Linear)]
        for linear, dense in zip(linears, bench_epoch.vade_layers(model), strict=True):
            dense.kernel.assign(linear.weight.detach().numpy().T)
            dense.bias.assign(linear.bias.detach().numpy())
        for mine, theirs in zip(model.prior.mixture_variables, reference.mixture_parameters(), strict=True):
            mine.assign(theirs.detach().numpy())
        expected = float(np.mean(model.elbo_terms(x)["elbo"]))
        assert -reference.negative_elbo(torch.from_numpy(x)).item() == pytest.approx(expected, rel=1e-5)
