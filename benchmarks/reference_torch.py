"""The PyTorch reference that ``bench_epoch`` races: the same VaDE step, written as PyTorch users do.

Eager PyTorch, in-memory tensors, ``nn.Linear`` stacks, the closed-form ELBO of Eq. 12 with gamma from
Eq. 16, the paper's Bernoulli likelihood and the config's prior (diagonal or full covariance), and
Adam for the network and, with ``train.mixture_learning_rate``, a second Adam for the mixture: what
vade-tf's epoch computes, so the two epochs' seconds compare like for like. PyTorch is not a
dependency of vade-tf; ``bench_epoch`` runs this in a process of its own where torch is installed.

    python -m benchmarks.reference_torch [--batch-size 800] [--epochs 2] [--config configs/mnist.json]
                                              [--samples 70000]

prints one JSON line: the best epoch's seconds, the batch size, the threads and torch's version.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import time

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from vade_tf.config import load_config
from vade_tf.validation import AUTO

D = 784


def mlp(widths: list[int]) -> nn.Sequential:
    """Linear layers with ReLU between them (none after the last)."""
    layers = []
    for i, (m, n) in enumerate(zip(widths, widths[1:])):
        layers += [nn.Linear(m, n)] + ([nn.ReLU()] if i < len(widths) - 2 else [])
    return nn.Sequential(*layers)


class VaDE(nn.Module):
    def __init__(self, hidden: list[int], latent: int, clusters: int, covariance: str):
        super().__init__()
        self.encoder = nn.Sequential(mlp([D] + hidden), nn.ReLU())
        self.mean, self.log_var = nn.Linear(hidden[-1], latent), nn.Linear(hidden[-1], latent)
        self.decoder = mlp([latent] + hidden[::-1] + [D])
        self.pi_logits = nn.Parameter(torch.zeros(clusters))
        self.means = nn.Parameter(torch.randn(clusters, latent))
        self.log_vars = nn.Parameter(torch.zeros(clusters, latent))
        full = covariance == "full"
        self.scale_offdiag = nn.Parameter(torch.zeros(clusters, latent, latent)) if full else None

    def mixture_parameters(self) -> list[nn.Parameter]:
        return [p for p in (self.pi_logits, self.means, self.log_vars, self.scale_offdiag) if p is not None]

    def inverse_scale(self) -> torch.Tensor:
        """L_c^-1 [K, J, J] for Sigma_c = L_c L_c^T (diagonal: the inverse standard deviations)."""
        if self.scale_offdiag is None:
            return torch.diag_embed(torch.exp(-0.5 * self.log_vars))
        scale = torch.tril(self.scale_offdiag, -1) + torch.diag_embed(torch.exp(0.5 * self.log_vars))
        identity = torch.eye(scale.shape[-1]).expand_as(scale)
        return torch.linalg.solve_triangular(scale, identity, upper=False)

    def negative_elbo(self, x: torch.Tensor) -> torch.Tensor:
        h = self.encoder(x)
        mu, log_var = self.mean(h), self.log_var(h)                                   # [B, J]
        z = mu + torch.exp(0.5 * log_var) * torch.randn_like(mu)
        reconstruction = -F.binary_cross_entropy_with_logits(self.decoder(z), x, reduction="none").sum(1)

        inverse = self.inverse_scale()                                                # [K, J, J]
        log_det = self.log_vars.sum(1)                                                # log |Sigma_c|  [K]
        log_pi = F.log_softmax(self.pi_logits, 0)
        whitened = torch.einsum("kij,bkj->bki", inverse, z[:, None] - self.means)    # [B, K, J]
        log_p_z_c = -0.5 * (z.shape[1] * math.log(2 * math.pi) + log_det + whitened.square().sum(-1))
        log_gamma = F.log_softmax(log_pi + log_p_z_c, 1)                              # Eq. 16  [B, K]
        gamma = log_gamma.exp()

        precision_diagonal = inverse.square().sum(1)                                  # Sigma_c^-1's [K, J]
        mahalanobis = torch.einsum("kij,bkj->bki", inverse, mu[:, None] - self.means).square().sum(-1)
        kl_per_cluster = 0.5 * ((log_var.exp() @ precision_diagonal.T) + mahalanobis - z.shape[1]
                                + log_det - log_var.sum(1, keepdim=True))              # [B, K]
        kl_z = (gamma * kl_per_cluster).sum(1)
        kl_c = (gamma * (log_gamma - log_pi)).sum(1)
        return -(reconstruction - kl_z - kl_c).mean()


def epoch_seconds(model: VaDE, optimizers: list[torch.optim.Optimizer], x: torch.Tensor, batch_size: int,
                  generator: torch.Generator) -> float:
    start = time.perf_counter()
    order = torch.randperm(len(x), generator=generator)
    for step in range(len(x) // batch_size):
        batch = x[order[step * batch_size:(step + 1) * batch_size]]
        for optimizer in optimizers:
            optimizer.zero_grad()
        model.negative_elbo(batch).backward()
        for optimizer in optimizers:
            optimizer.step()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=800)
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs after one warm-up (best kept)")
    parser.add_argument("--config", default="configs/mnist.json")
    parser.add_argument("--samples", type=int, default=70_000, help="rows of the synthetic MNIST-shaped data")
    args = parser.parse_args()

    config = load_config(args.config)  # vade-tf's own reading of it, defaults included (no TensorFlow)
    m, t = config.model, config.train
    if AUTO in (m.networks.hidden_dims, m.latent_dim):
        raise SystemExit(f"{args.config}: the reference needs model.networks.hidden_dims and "
                         "model.latent_dim stated, not auto (configs/mnist.json states them)")
    # PyTorch's default is one thread per physical core; vade-tf uses every logical CPU, so this does too.
    torch.set_num_threads(os.cpu_count())
    torch.manual_seed(0)
    model = VaDE(list(m.networks.hidden_dims), m.latent_dim, m.n_clusters, m.covariance)
    if t.mixture_learning_rate is None:
        optimizers = [torch.optim.Adam(model.parameters(), t.learning_rate, eps=t.adam_epsilon)]
    else:
        mixture = model.mixture_parameters()
        network = [p for p in model.parameters() if all(p is not q for q in mixture)]
        optimizers = [torch.optim.Adam(network, t.learning_rate, eps=t.adam_epsilon),
                      torch.optim.Adam(mixture, t.mixture_learning_rate, eps=t.adam_epsilon)]
    x = torch.from_numpy(np.random.default_rng(0).uniform(size=(args.samples, D)).astype(np.float32))
    generator = torch.Generator().manual_seed(0)
    epoch_seconds(model, optimizers, x, args.batch_size, generator)
    best = min(epoch_seconds(model, optimizers, x, args.batch_size, generator) for _ in range(args.epochs))
    print(json.dumps({"batch_size": args.batch_size, "seconds": best, "threads": torch.get_num_threads(),
                      "torch": torch.__version__, "covariance": m.covariance}))


if __name__ == "__main__":
    main()
