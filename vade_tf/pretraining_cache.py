"""A run's pretraining cache, its ``pretrain/`` folder, and what a run may take from it.

The cache holds the pretrained model's weights (``rundir.PRETRAIN_WEIGHTS``), the starting partition
(``rundir.PRETRAIN_PARTITION``) and ``rundir.PRETRAIN_INFO``: the fingerprint of everything that
produced them (data, model, the pretrain keys, seed), the losses and the partition's scores. The info
is written last, so a folder without it is an interrupted pretraining.

A run takes the whole cache when its fingerprint matches exactly, and the networks alone when only
the mixture (``MIXTURE_KEYS``: another K) or how the latent is partitioned (``PARTITION_KEYS``)
differ: the networks' weights and pretraining's batches are drawn the same whatever those are, so
one autoencoder serves every K.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import numpy as np

from vade_tf import files, rundir

# pretrain keys that shape only the partition of the pretrained latent, not the autoencoder.
PARTITION_KEYS = ("gmm_n_init", "gmm_covariance", "mixture_init", "spectral_neighbors", "umap_neighbors",
                  "prior_shrinkage")
# model keys that shape only the mixture.
MIXTURE_KEYS = ("n_clusters", "covariance")


def pretrain_fingerprint(config, input_dim: int, seed: int) -> dict:
    """Everything that determines the pretrained weights and the starting partition: reuse only on an
    exact match. Where the data lives is not part of it (moving the data keeps the cache valid)."""
    fields = rundir.computed_fields(config)
    data = {k: v for k, v in fields["data"].items() if k != "evaluate_split"}  # scored, not trained on
    model = {k: v for k, v in fields["model"].items() if k != "mc_samples"}  # the ELBO's draws
    pretrain = {k: v for k, v in fields["pretrain"].items() if k != "other_starts"}  # trained beside it
    return {"data": data, "input_dim": input_dim, "seed": seed, "model": model, "pretrain": pretrain,
            "mixed_precision": config.train.mixed_precision}


def same_autoencoder(fingerprint: dict, other: dict) -> bool:
    """Whether two pretrain fingerprints differ at most in the mixture and how the latent is
    partitioned."""
    def autoencoder(f: dict) -> dict:
        return {**f, "model": {k: v for k, v in f["model"].items() if k not in MIXTURE_KEYS},
                "pretrain": {k: v for k, v in f["pretrain"].items() if k not in PARTITION_KEYS}}
    return autoencoder(fingerprint) == autoencoder(other)


def cache_reuse(cached: Optional[dict], fingerprint: dict) -> Optional[str]:
    """What a pretraining cache (its info; None while it has none) gives a run with ``fingerprint``:
    "pretraining" (weights and partition: an exact match), "autoencoder" (only the mixture or how the
    latent is partitioned differ: the networks, to partition anew), or None."""
    if cached is None:
        return None
    if cached.get("digest") == rundir.fingerprint_digest(fingerprint):
        return "pretraining"
    if same_autoencoder(cached["fingerprint"], fingerprint):
        return "autoencoder"
    return None


class PretrainingCache:
    """The cache a run with ``config`` reads, its own ``directory`` or pretrain.from_dir's, and writes,
    always its own; ``reuse`` says what it holds for the run (``cache_reuse``).

    Parameters
    ----------
    directory : Path
        The run's (or restart's) own ``pretrain/`` folder.
    config : Config
        The run's config, its "auto" values resolved.
    input_dim, seed : int
        The data's features per row, and the pretraining's seed.
    """

    def __init__(self, directory: Path, config, input_dim: int, seed: int):
        self.directory = Path(directory)
        self.borrowed = config.pretrain.from_dir is not None
        self.source = (Path(config.pretrain.from_dir) / rundir.PRETRAIN_DIR if self.borrowed
                       else self.directory)
        self.fingerprint = pretrain_fingerprint(config, input_dim, seed)
        self.digest = rundir.fingerprint_digest(self.fingerprint)
        info = self.source / rundir.PRETRAIN_INFO
        self.info: Optional[dict] = json.loads(info.read_text()) if info.exists() else None
        self.reuse = cache_reuse(self.info, self.fingerprint)

    def load(self, model) -> None:
        """Load into ``model`` what ``reuse`` allows: every weight for "pretraining"; for "autoencoder"
        the networks, read through a model of the cached mixture's shape when it differs (the
        model's own mixture is left as it is)."""
        from vade_tf.model import VaDE

        weights = self.source / rundir.PRETRAIN_WEIGHTS
        saved_mixture = {key: self.info["fingerprint"]["model"][key] for key in MIXTURE_KEYS}
        if all(model.get_config()[key] == value for key, value in saved_mixture.items()):
            model.load_weights(weights)
            return
        saved = VaDE.from_config({**model.get_config(), **saved_mixture})
        saved.build((None, model.input_dim))
        saved.load_weights(weights)
        for target, source in zip(model.network_variables, saved.network_variables, strict=True):
            target.assign(source)

    def partition(self) -> np.ndarray:
        """The cached starting partition: a cluster for every sample."""
        return np.load(self.source / rundir.PRETRAIN_PARTITION)

    def save(self, model, partition: np.ndarray, info: dict) -> None:
        """Write ``model``'s weights, its starting ``partition`` and ``info`` (which holds ``digest``
        and ``fingerprint``) into the run's own cache, the info last: it marks the cache complete."""
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / rundir.PRETRAIN_INFO).unlink(missing_ok=True)  # incomplete until rewritten
        files.save_npy(self.directory / rundir.PRETRAIN_PARTITION, partition.astype(np.int32))
        model.save_weights(self.directory / rundir.PRETRAIN_WEIGHTS)
        files.write_json(self.directory / rundir.PRETRAIN_INFO, info)
