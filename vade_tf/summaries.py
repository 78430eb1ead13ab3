"""What a VaDE run shows in TensorBoard of each epoch: its logs as scalars (``EpochScalars``), and
beyond them (``RunSummaries``) what the paper's figures show and what tells a run is healthy. Both are
Keras callbacks, which the training loop (``fit.fit_vade``) tells of each epoch's end after the
epoch's scores (``evaluation.EpochScores``); neither depends on the other's order.

Per epoch: learning rates, steps per second, histograms of pi, mu_c, sigma_c^2 and a warning when a
cluster's weight falls below ``logging.min_cluster_weight`` (mixture collapse). Every
``logging.image_every`` epochs: generated samples with one row per cluster (Fig. 4), reconstructions
under their inputs, and the cluster-by-label confusion after Hungarian matching. Every
``logging.embedding_every`` epochs: latent means for the Embedding Projector, labelled by class and
cluster (Figs. 3 and 5). At the end: all of these, a t-SNE figure, the HParams record, and the same
pictures as PNG files in the run directory.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import keras
import numpy as np
import tensorflow as tf

from vade_tf import figures
from vade_tf.data import Dataset
from vade_tf.data.pipeline import inference_dataset
from vade_tf.data.sparse import SparseRows
from vade_tf.inference import cluster_assigner
from vade_tf.metrics import clustering_scores
from vade_tf.registry import DATASETS

PNG_FILES = {"samples": "samples.png", "reconstructions": "reconstructions.png",
             "confusion": "confusion.png", "tsne": "tsne.png"}
PROJECTOR_DIR = "projector"  # the Embedding Projector's run, inside each restart's log folder
EMBEDDING_TENSOR = "embedding/.ATTRIBUTES/VARIABLE_VALUE"


class EpochScalars(keras.callbacks.Callback):
    """Each epoch's logs as TensorBoard scalars named as Keras's TensorBoard callback names them:
    ``epoch_<name>`` under ``log_dir/train``, the validation logs (``val_<name>``) as ``epoch_<name>``
    under ``log_dir/validation``, at step ``epoch`` (0-based) as Keras writes them."""

    def __init__(self, log_dir: Path):
        super().__init__()
        self.log_dir = Path(log_dir)
        self.writers: dict = {}

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        for split, names in (("train", [n for n in logs if not n.startswith("val_")]),
                             ("validation", [n for n in logs if n.startswith("val_")])):
            if not names:
                continue
            if split not in self.writers:
                self.writers[split] = tf.summary.create_file_writer(str(self.log_dir / split))
            with self.writers[split].as_default():
                for name in names:
                    tf.summary.scalar(f"epoch_{name.removeprefix('val_')}", logs[name], step=epoch)
            self.writers[split].flush()


class RunSummaries(keras.callbacks.Callback):
    """Writes the summaries described in the module docstring of ``model``'s training to ``log_dir``
    and PNGs to ``figure_dir``."""

    def __init__(self, model, data: Dataset, logging, log_dir: Path, figure_dir: Path, seed: int,
                 hparams: Optional[dict] = None, verbose: int = 1, epochs: Optional[int] = None,
                 jit_compile: bool = True):
        super().__init__()
        self.set_model(model)
        self.jit_compile = jit_compile
        self.epochs = epochs  # the end-of-run pictures wait for the last epoch (a resumed run fits twice)
        self.data, self.logging, self.seed, self.verbose = data, logging, seed, verbose
        self.log_dir, self.figure_dir = Path(log_dir), Path(figure_dir)
        self.run_name = self.figure_dir.resolve().name  # the figures' titles say which run they show
        self.hparams = hparams or {}
        self.writer = tf.summary.create_file_writer(str(self.log_dir))
        self.projector_writer = tf.summary.create_file_writer(str(self.log_dir / PROJECTOR_DIR))
        self.x_show, self.y_show = self._subsample(logging.embedding_samples)
        self.epoch_start = 0.0
        self.last_epoch = -1
        self.assign = None
        self.light_cluster_said = False

    # ----------------------------------------------------------------------------- helpers
    def _subsample(self, n: int):
        """A fixed, seeded subsample of rows (the first rows when the features are streamed)."""
        x, y = self.data.x, self.data.y
        if self.data.in_memory:
            index = np.sort(np.random.default_rng(self.seed).choice(len(x), min(n, len(x)), replace=False))
            rows = x[index].toarray() if isinstance(x, SparseRows) else x[index]
            return rows, (None if y is None else y[index])
        rows = np.concatenate([b.numpy() for b in inference_dataset(x, 1024).take(-(-n // 1024))])[:n]
        return rows, (None if y is None else y[:len(rows)])

    def _z_means(self) -> np.ndarray:
        return self.model.encode(tf.constant(self.x_show))[0].numpy()

    def _assignments(self) -> np.ndarray:
        if self.assign is None:  # compiled once for the run
            self.assign = cluster_assigner(self.model, self.jit_compile)
        return self.assign(self.data.x)

    def _image(self, name: str, picture: np.ndarray, step: int, save_png: bool) -> None:
        tf.summary.image(name, picture[None], step=step)
        if save_png and name in PNG_FILES:
            self.figure_dir.mkdir(parents=True, exist_ok=True)
            tf.io.write_file(str(self.figure_dir / PNG_FILES[name]), tf.io.encode_png(picture))

    # ----------------------------------------------------------------------------- pictures
    def _class_name(self, label: int) -> str:
        names = DATASETS[self.data.name].class_names if self.data.name in DATASETS else ()
        return names[label] if label < len(names) else str(label)

    def _title(self, what: str, step: int, scores: Optional[dict] = None) -> str:
        shown = "" if scores is None else f": ACC {scores['acc']:.4f}, NMI {scores['nmi']:.4f}"
        return f"{what}, {self.run_name} epoch {step}{shown}"

    def _pictures(self, step: int, final: bool) -> Optional[dict]:
        """Samples, reconstructions and the confusion; returns the scores their titles show (None
        without labels), from one assignment of every sample."""
        model, k = self.model, self.model.n_clusters
        scores, mapping = None, {}
        if self.data.y is not None:
            assignments = self._assignments()
            table, order, mapping = figures.confusion_counts(self.data.y, assignments)
            scores = clustering_scores(self.data.y, assignments)

        def cluster_name(cluster: int) -> str:
            matched = f" ({self._class_name(mapping[cluster])})" if cluster in mapping else ""
            return f"cluster {cluster}{matched}"
        image_shape = self._image_shape()
        if image_shape is not None:
            n = self.logging.samples_per_cluster
            clusters = tf.constant(np.repeat(np.arange(k), n), tf.int64)
            generated = model.generate(clusters, tf.constant(self.seed, tf.int64))["x_mean"].numpy()
            samples = figures.labelled_grid(generated.reshape(k, n, -1), image_shape,
                                            [cluster_name(c) for c in range(k)],
                                            self._title("samples of each cluster (E[x|z], z ~ p(z|c))", step))
            self._image("samples", samples, step, final)
            shown = self.x_show[:n]
            rebuilt = model.reconstruct(tf.constant(shown)).numpy()
            pairs = np.stack([shown, rebuilt])                                         # [2, n, D]
            self._image("reconstructions", figures.labelled_grid(pairs, image_shape, ["input", "rebuilt"],
                                                                 self._title("reconstructions", step)),
                        step, final)
        if scores is not None:
            classes = [self._class_name(c) for c in range(table.shape[1])]
            picture = figures.confusion_figure(table, [cluster_name(c) for c in order], classes,
                                               self._title("confusion", step, scores))
            self._image("confusion", picture, step, final)
        return scores

    def _image_shape(self) -> Optional[tuple]:
        """The shape a row is drawn in: the architecture's image_shape (a conv model knows its images'
        channels), else the dataset's grey (H, W); None when rows are not images."""
        return (self.model.network_options or {}).get("image_shape") or self.data.image_shape

    def _embeddings(self, step: int) -> None:
        """Latent means for the Embedding Projector, with class and cluster as metadata columns and,
        for images, a sprite. TensorBoard's projector reads a run folder's (one holding event files)
        ``projector_config.pbtxt`` and newest checkpoint, and a run without a checkpoint borrows its
        parent's: so the projector is a run of its own, ``projector/``, with a line of text for its
        event file, and appears once."""
        from tensorboard.plugins import projector

        folder = self.log_dir / PROJECTOR_DIR
        z = self._z_means()
        with self.projector_writer.as_default():
            tf.summary.text("projector", f"latent means E[z|x] of {len(z)} samples, epoch {step}", step=step)
        self.projector_writer.flush()
        clusters = np.argmax(self.model(tf.constant(self.x_show)).numpy(), axis=1)
        classes = self.y_show if self.y_show is not None else np.full(len(z), -1)
        rows = "".join(f"{c}\t{k}\n" for c, k in zip(classes, clusters))
        (folder / "metadata.tsv").write_text("class\tcluster\n" + rows)
        checkpoint = tf.train.Checkpoint(embedding=tf.Variable(z))
        tf.train.CheckpointManager(checkpoint, str(folder), max_to_keep=1, checkpoint_name="embedding").save()
        config = projector.ProjectorConfig()
        embedding = config.embeddings.add()
        embedding.tensor_name = EMBEDDING_TENSOR
        embedding.metadata_path = "metadata.tsv"
        image_shape = self._image_shape()
        if image_shape is not None:
            tiles = figures.sprite(self.x_show, image_shape)
            tf.io.write_file(str(folder / "sprite.png"), tf.io.encode_png(tiles))
            embedding.sprite.image_path = "sprite.png"
            embedding.sprite.single_image_dim.extend([image_shape[1], image_shape[0]])  # width, height
        projector.visualize_embeddings(str(folder), config)

    def _tsne(self, step: int, scores: Optional[dict]) -> None:
        from sklearn.manifold import TSNE

        n = min(self.logging.tsne_samples, len(self.x_show))
        z = self._z_means()[:n]
        if len(np.unique(z, axis=0)) < 5:  # t-SNE needs distinct points (identical ones crash its PCA start)
            return
        clusters = np.argmax(self.model(tf.constant(self.x_show[:n])).numpy(), axis=1)
        classes = None if self.y_show is None else self.y_show[:n]
        points = TSNE(n_components=2, init="pca", perplexity=min(30.0, (n - 1) / 3),
                      random_state=self.seed).fit_transform(z)
        title = self._title(f"t-SNE of {n} latent means E[z|x]", step, scores)
        self._image("tsne", figures.tsne_figure(points, clusters, classes, self._class_name, title), step,
                    save_png=True)

    # ----------------------------------------------------------------------------- the loop's calls
    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        """An epoch starts: its steps per second are counted from here."""
        self.epoch_start = time.perf_counter()
        self.steps_before = int(self.model.optimizer.iterations.numpy())

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        """Epoch ``epoch`` (0-based) has ended, and was trained whole."""
        self.last_epoch = epoch
        step = epoch + 1
        seconds = time.perf_counter() - self.epoch_start
        steps = int(self.model.optimizer.iterations.numpy()) - self.steps_before
        pi = tf.nn.softmax(self.model.prior.pi_logits).numpy()
        with self.writer.as_default():
            tf.summary.scalar("steps_per_second", steps / max(seconds, 1e-9), step=step)
            tf.summary.scalar("learning_rate/network", _current_rate(self.model.optimizer), step=step)
            if self.model.mixture_optimizer is not None:
                mixture_rate = _current_rate(self.model.mixture_optimizer)
                tf.summary.scalar("learning_rate/mixture", mixture_rate, step=step)
            tf.summary.histogram("mixture/pi", pi, step=step)
            tf.summary.histogram("mixture/means", self.model.prior.means, step=step)
            tf.summary.histogram("mixture/variances", self.model.prior.variances(), step=step)
            tf.summary.scalar("mixture/min_pi", float(pi.min()), step=step)
            every = self.logging.image_every
            if every and step % every == 0 and step != self.epochs:  # the last epoch's: on_train_end's
                self._pictures(step, final=False)
            if self.logging.embedding_every and step % self.logging.embedding_every == 0:
                self._embeddings(step)
        light = pi.min() < self.logging.min_cluster_weight
        if light and not self.light_cluster_said and self.verbose:  # said once, when it starts
            print(f"warning: epoch {step}: cluster {int(pi.argmin())} has weight {pi.min():.4f} < "
                  f"{self.logging.min_cluster_weight} (logging.min_cluster_weight): the mixture may be "
                  "collapsing; try a smaller train.mixture_learning_rate or another seed", flush=True)
        self.light_cluster_said = self.light_cluster_said or light
        self.writer.flush()

    def on_train_end(self, logs=None) -> None:
        """Training has ended without a stop: after the run's last epoch, the final pictures."""
        step = self.last_epoch + 1
        if self.epochs is not None and step < self.epochs:  # a restart's first phase, trained on later
            return
        if self.logging.final_pictures:
            self.write_final_pictures(step)

    def write_final_pictures(self, step: int) -> None:
        """The end-of-run pictures, projector snapshot and t-SNE figure of the model at epoch ``step``."""
        with self.writer.as_default():
            scores = self._pictures(step, final=True)
            self._embeddings(step)
            self._tsne(step, scores)
        self.writer.flush()

    def write_hparams(self, final_metrics: dict) -> None:
        """The config with the run's final metrics, for the HParams dashboard (called after evaluation)."""
        from tensorboard.plugins.hparams import api as hp

        with self.writer.as_default():
            # HParams takes numbers, strings and booleans: lists and nulls are shown as text.
            hp.hparams({name: str(value) if value is None or isinstance(value, (list, tuple)) else value
                        for name, value in self.hparams.items()}, trial_id=str(self.log_dir))
            for name in ("acc", "nmi", "ari", "elbo"):
                if name in final_metrics:
                    tf.summary.scalar(f"final/{name}", final_metrics[name], step=self.last_epoch + 1)
        self.writer.flush()


def _current_rate(optimizer) -> float:
    return float(optimizer.learning_rate)
