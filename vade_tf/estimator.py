"""``VaDEClustering``: VaDE as a scikit-learn estimator, for data in Python (NumPy, pandas, SciPy).

``fit`` trains what ``vade-train`` trains (``runs.train_and_evaluate``, the shipped recipe unless the
parameters say otherwise) in a run directory, a temporary one unless ``run_dir`` names one, and keeps
the trained model in memory. ``save`` writes a run directory that ``vade-export`` and
``vade-predict`` accept; ``load`` reads one back, ``vade-train``'s included.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from vade_tf.config import Config, config_from_dict
from vade_tf.data.sparse import SparseRows
from vade_tf.estimator_files import fit_directory, load_estimator, save_estimator
from vade_tf.parameters import DEFAULTS, config_of
from vade_tf.validation import AUTO, check_values, estimator_rows


class VaDEClustering(ClusterMixin, TransformerMixin, BaseEstimator):
    """Variational Deep Embedding: a VAE whose prior is a Gaussian mixture, fitted by the paper's ELBO.

    Clusters (``predict``, ``predict_proba``: gamma = p(c|z)), embeds (``transform``: E[z|x]),
    scores (``score_samples``: each row's ELBO) and generates (``sample``). The defaults are the
    default recipe (``vade_tf.config``, the same as ``configs/custom.json``): values left "auto" are
    derived from X when it is fitted (``vade_tf.recipe.resolve_auto``), and Gaussian features are
    scaled inside the model (``vade_tf.scaling``), so X of any scale is fitted as given.
    ``settings`` sets any other config key, e.g. ``{"pretrain.mixture_init": "gmm"}`` or
    ``{"model.standardize": "none"}``.

    Parameters
    ----------
    n_clusters : int or "auto"
        K, the number of mixture components; "auto" chooses it without labels, from 2 to 30 (or
        ``settings`` ``model.min_clusters`` / ``model.max_clusters``), by the eigengap of the
        pretrained latent's neighbour graph (``vade_tf.cluster_count``), as ``n_clusters_``.
    latent_dim, hidden_dims, pretrain_epochs, epochs, batch_size : int (tuple for hidden_dims) or "auto"
        J, the MLP encoder's widths (unused when ``settings`` names another ``model.architecture``),
        the autoencoder's and VaDE's epochs and VaDE's batch size; "auto" derives them from X's size
        (``vade_tf/recipe.py``).
    likelihood : {"auto", "bernoulli", "gaussian"}
        p(x|z); "auto" takes "bernoulli" for intensities in [0, 1] whose median feature has a tenth
        of its values at 0 or 1 and whose values above 0 average 0.25 or more (pixels on a
        background, binary features; not TF-IDF weights), else "gaussian".
    covariance, pretrain, learning_rate
        The components' covariance ("full" or "diag"), the pretraining method and VaDE's Adam rate.
    random_state : int, None or RandomState
        The run's seed (an int), or a RandomState a seed is drawn from.
    settings : dict, optional
        Any other config key, as ``{"section.key": value}``.
    run_dir : str, optional
        Where the run's artefacts go (a new or empty folder; TensorBoard logs, checkpoints); None: a
        temporary folder, deleted after ``fit``.
    pictures : bool
        Draw what ``vade-train`` draws (samples, reconstructions, confusion, the Embedding Projector,
        a t-SNE) into the run directory.
    verbose : int
        0 trains silently; 1 prints what ``vade-train`` prints.

    Attributes
    ----------
    n_clusters_ : int
        The number of clusters fitted: ``n_clusters``, or the one "auto" chose.
    labels_ : ndarray of shape (n_samples,)
        The cluster of every sample ``fit`` was given.
    weights_, means_, covariances_ : ndarray
        The prior's mixture: pi [K], mu_c [K, J] and Sigma_c ([K, J] variances for "diag", [K, J, J]
        matrices for "full"), named as in ``GaussianMixture``.
    config_ : Config
        The config the run trained with, every "auto" resolved.
    metrics_ : dict
        The run's metrics.json: the final ELBO, timings, and for "auto" the K chosen and every K's score.
    """

    def __init__(self, n_clusters: int | str = DEFAULTS.model.n_clusters, *,
                 latent_dim: int | str = DEFAULTS.model.latent_dim,
                 hidden_dims: tuple | str = DEFAULTS.model.networks.hidden_dims,
                 likelihood: str = DEFAULTS.model.likelihood,
                 covariance: str = DEFAULTS.model.covariance, pretrain: str = DEFAULTS.pretrain.method,
                 pretrain_epochs: int | str = DEFAULTS.pretrain.epochs,
                 epochs: int | str = DEFAULTS.train.epochs, batch_size: int | str = DEFAULTS.train.batch_size,
                 learning_rate: float = DEFAULTS.train.learning_rate, random_state=None,
                 settings: dict | None = None, run_dir: str | None = None, pictures: bool = False,
                 verbose: int = 0):
        self.n_clusters = n_clusters
        self.latent_dim = latent_dim
        self.hidden_dims = hidden_dims
        self.likelihood = likelihood
        self.covariance = covariance
        self.pretrain = pretrain
        self.pretrain_epochs = pretrain_epochs
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.random_state = random_state
        self.settings = settings
        self.run_dir = run_dir
        self.pictures = pictures
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.transformer_tags.preserves_dtype = ["float32"]  # TensorFlow computes in float32
        return tags

    def fit(self, X, y=None):
        """Pretrain, partition and train VaDE on ``X``, as ``vade-train`` trains it.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            The samples, finite, at any scale.
        y : None
            Ignored: clustering needs no labels.

        Returns
        -------
        VaDEClustering
            This estimator, fitted.
        """
        X = estimator_rows(self, X, reset=True)
        features = SparseRows(X) if scipy.sparse.issparse(X) else X
        config = config_of(self.get_params(), self._seed(), len(features))
        # "auto" needs max_clusters + 2 samples: the run's data check says so (validation.check_data)
        if config.model.n_clusters != AUTO and X.shape[0] < max(config.model.n_clusters, 2):
            raise ValueError(f"n_samples={X.shape[0]} should be >= n_clusters={self.n_clusters} (and at "
                             "least 2); pass more samples or lower n_clusters")
        from vade_tf.data import Dataset  # TensorFlow loads from here on
        from vade_tf.exporting import load_run
        from vade_tf.runs import train_and_evaluate

        with fit_directory(self.run_dir) as run_dir:
            metrics = train_and_evaluate(config, run_dir, self.verbose, data=Dataset(features, None, "X"))
            model, resolved, _ = load_run(run_dir)  # the config as the run resolved it ("auto" values)
        self._fitted(model, config_from_dict(resolved), metrics)
        self.labels_ = self._trained.probabilities(features).argmax(axis=1)  # X is checked already
        return self

    def _seed(self) -> int:
        if isinstance(self.random_state, (int, np.integer)) and not isinstance(self.random_state, bool):
            return int(self.random_state)
        return int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))

    def _fitted(self, model, config: Config, metrics: dict) -> None:
        """The fitted attributes of ``model``: the mixture as GaussianMixture names it."""
        from vade_tf.inference import TrainedModel

        self._trained = TrainedModel(model, config.train.jit_compile)
        self.config_, self.metrics_ = config, metrics
        self.n_clusters_ = model.n_clusters  # the number given, or the one "auto" chose
        self.weights_, self.means_, self.covariances_ = model.prior.mixture()

    def _features(self, X, density: bool = False):
        """``X`` checked for a fitted model: finite, of the fitted width and, for ``density`` (the ELBO),
        inside the likelihood's support (a row a little outside [0, 1] still gets its cluster)."""
        check_is_fitted(self, "weights_")
        X = estimator_rows(self, X, reset=False)
        features = SparseRows(X) if scipy.sparse.issparse(X) else X
        check_values(features, "X", self._trained.model.likelihood if density else None,
                     "score and score_samples need it; predict, predict_proba and transform take any "
                     "finite row")
        return features

    def predict_proba(self, X) -> np.ndarray:
        """gamma = p(c | z = E[z|x]), Eq. 16 at the encoder's mean.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            Finite rows; outside the likelihood's support too (new data through a fitted scaler).

        Returns
        -------
        ndarray of shape (n_samples, n_clusters_)
            Each row's cluster probabilities, summing to one.
        """
        features = self._features(X)  # checks that it is fitted first
        return self._trained.probabilities(features)

    def predict(self, X) -> np.ndarray:
        """The most probable cluster of each sample (the largest ``predict_proba``).

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            Finite rows, as ``predict_proba`` takes them.

        Returns
        -------
        ndarray of shape (n_samples,)
            Cluster indices in 0..n_clusters_ - 1.
        """
        return self.predict_proba(X).argmax(axis=1)

    def transform(self, X) -> np.ndarray:
        """The embedding E[z|x]: where each sample sits in the latent, what the clusters are made in.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            Finite rows of any scale: a Gaussian model standardises them inside itself.

        Returns
        -------
        ndarray of shape (n_samples, latent_dim)
            The means of q(z|x).
        """
        features = self._features(X)  # checks that it is fitted first
        return self._trained.latent_means(features)

    def score_samples(self, X) -> np.ndarray:
        """The ELBO of each sample (Eq. 12, a lower bound on log p(x); higher is more typical): as
        ``GaussianMixture.score_samples``, a low value marks an outlier. vade-predict's ``elbo``
        column holds the same numbers.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            Rows inside the likelihood's support ([0, 1] for a Bernoulli model).

        Returns
        -------
        ndarray of shape (n_samples,)
            A row's number depends on that row alone: the same on every call, in any batch.
        """
        from vade_tf.evaluation import sample_elbos

        return sample_elbos(self._trained.model, self._features(X, density=True))

    def score(self, X, y=None) -> float:
        """The mean ELBO per sample, of ``score_samples`` (higher is better): what models are chosen by.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            Rows inside the likelihood's support ([0, 1] for a Bernoulli model).
        y : None
            Ignored.

        Returns
        -------
        float
        """
        return float(np.mean(self.score_samples(X)))

    def sample(self, n_samples: int = 1, cluster: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """New samples by the paper's generative process: c ~ pi (or ``cluster``), z ~ p(z|c),
        x ~ p(x|z). Seeded by ``random_state``: an int gives the same samples each call.

        Parameters
        ----------
        n_samples : int
            How many.
        cluster : int, optional
            Draw them all from this cluster; from pi when None.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        clusters : ndarray of shape (n_samples,)
        """
        check_is_fitted(self, "weights_")
        return self._trained.sample(n_samples, cluster, self.weights_, check_random_state(self._seed()))

    def save(self, path) -> None:
        """Write the fitted estimator as a run directory, which ``load``, ``vade-export`` and
        ``vade-predict`` read.

        Parameters
        ----------
        path : str or Path
            A new or empty folder.

        Raises
        ------
        ValueError
            The estimator is not fitted, or ``path`` is not empty.
        """
        save_estimator(self, path)

    @classmethod
    def load(cls, path) -> "VaDEClustering":
        """The fitted estimator of a run directory.

        Parameters
        ----------
        path : str or Path
            A run directory: one ``save`` wrote, or ``vade-train``'s, whose config becomes the
            parameters (``labels_`` is known only for a saved estimator).

        Returns
        -------
        VaDEClustering
            The estimator, fitted.
        """
        return load_estimator(cls, path)
