import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import make_vade

from vade_tf import elbo
from vade_tf.fit import StaircaseDecay, network_optimizer, partition_log_gamma, start_posterior_width
from vade_tf.model import VaDE

D, K, J = 12, 3, 2


def _model(**kwargs):
    return make_vade(D, K, latent_dim=J, hidden_dims=[16, 8], **kwargs)


def _data(n=60, seed=0):
    return np.random.default_rng(seed).uniform(size=(n, D)).astype(np.float32)


def test_mixture_parameters_are_tracked_keras_weights():
    model = _model()
    names = {v.path.split("/")[-1] for v in model.trainable_variables}
    assert {"pi_logits", "means", "log_vars"} <= names
    assert isinstance(model.prior.distribution().components_distribution,
                      type(elbo.posterior(np.zeros(J), np.zeros(J))))


def test_call_returns_the_deterministic_cluster_posterior():
    model = _model()
    x = _data(7)
    gamma = model(x).numpy()
    assert gamma.shape == (7, K)
    np.testing.assert_allclose(gamma.sum(-1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(gamma, model(x).numpy())          # no sampling
    z_mean, _ = model.encoder(x)
    expected = model.prior.distribution().posterior_marginal(z_mean).probs_parameter().numpy()
    np.testing.assert_allclose(gamma, expected, atol=1e-6)


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_gradients_are_finite_and_reach_every_variable(likelihood):
    model = _model(likelihood=likelihood, mc_samples=3)
    with tf.GradientTape() as tape:
        loss = -tf.reduce_mean(model.elbo_terms(_data())["elbo"])
    grads = tape.gradient(loss, model.trainable_variables)
    assert all(g is not None and np.all(np.isfinite(g.numpy())) for g in grads)
    assert np.isfinite(loss.numpy())


# The shipped configs' set-up (a mixture optimizer of its own) under XLA, the paper's without it.
@pytest.mark.parametrize("separate_optimizer", [False, True])
def test_a_training_step_moves_the_mixture_parameters(separate_optimizer):
    model = _model()
    mixture_optimizer = keras.optimizers.Adam(0.01) if separate_optimizer else None
    model.compile(keras.optimizers.Adam(1e-3), mixture_optimizer=mixture_optimizer,
                  jit_compile=separate_optimizer)
    before = [v.numpy().copy() for v in model.prior.mixture_variables]
    logs = model.fit(_data(), batch_size=20, epochs=1, verbose=0).history
    assert set(logs) == {"loss", "elbo", "reconstruction", "kl_z", "kl_c"}
    assert logs["loss"][0] == pytest.approx(-logs["elbo"][0])
    for old, variable in zip(before, model.prior.mixture_variables):
        assert not np.allclose(old, variable.numpy())


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_computes_hidden_layers_in_half_and_the_elbo_in_float32(policy):
    full, mixed = _model(), _model(hidden_dtype=policy)
    mixed.set_weights(full.get_weights())
    half = policy.removeprefix("mixed_")
    hidden = mixed.encoder.features.layers + mixed.decoder.body.layers[:-1]
    assert {layer.compute_dtype for layer in hidden} == {half}
    assert {v.dtype for v in mixed.weights if v.trainable} == {"float32"}
    assert {t.dtype for t in mixed.elbo_terms(_data()).values()} == {tf.float32}
    x = _data(7)  # the same weights give the same latent means, to half precision
    np.testing.assert_allclose(mixed.encoder(x)[0].numpy(), full.encoder(x)[0].numpy(), rtol=0.03, atol=0.03)


# Each policy with the paper's one optimizer and with the mixture's own; float16's loss scaling (the
# GPU set-up) also under XLA.
@pytest.mark.parametrize("policy, separate_optimizer, jit_compile", [
    ("mixed_float16", False, False), ("mixed_float16", True, True),
    ("mixed_bfloat16", False, False), ("mixed_bfloat16", True, False)])
def test_mixed_precision_training_is_finite_and_improves_the_elbo(policy, separate_optimizer, jit_compile):
    model = _model(hidden_dtype=policy)
    mixture_optimizer = keras.optimizers.Adam(0.01) if separate_optimizer else None
    model.compile(network_optimizer(model, keras.optimizers.Adam(3e-3)), mixture_optimizer=mixture_optimizer,
                  jit_compile=jit_compile)
    # float16 needs loss scaling (its small gradients underflow); bfloat16 has float32's range.
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer) == (policy == "mixed_float16")
    before = [v.numpy().copy() for v in model.prior.mixture_variables]
    loss = model.fit(_data(), batch_size=20, epochs=8, verbose=0).history["loss"]
    assert np.all(np.isfinite(loss)) and loss[-1] < loss[0]
    for old, variable in zip(before, model.prior.mixture_variables):
        assert variable.dtype == "float32" and not np.allclose(old, variable.numpy())


def test_a_fed_gamma_replaces_the_posterior_of_eq16():
    """q(c|x) given beside x sets both KL terms (kl_c is KL(q(c|x) || pi) by hand); without it, gamma
    is Eq. 16's p(c|z) for the same draw of z."""
    model = _model()
    means = np.random.default_rng(0).normal(size=(K, J))
    model.prior.set_mixture(np.array([0.2, 0.3, 0.5]), means, np.ones((K, J)))  # unequal: rows' kl_c differ
    x, partition = _data(8), np.array([0, 1, 2, 0, 1, 2, 0, 1])
    log_gamma = partition_log_gamma(partition, K)
    gamma, pi = np.exp(log_gamma), tf.nn.softmax(model.prior.pi_logits).numpy()
    expected_kl_c = np.sum(gamma * (np.log(gamma) - np.log(pi)), axis=1)
    start = model.noise.state.numpy()
    fed = model.elbo_terms(x, log_gamma)
    assert {name: term.shape for name, term in fed.items()} == {name: (8,) for name in fed}
    np.testing.assert_allclose(fed["kl_c"].numpy(), expected_kl_c, rtol=1e-5)
    model.noise.state.assign(start)
    own = model.elbo_terms(x)
    model.noise.state.assign(start)
    z_mean, z_log_var = model.encoder(x)
    z = z_mean + tf.exp(0.5 * z_log_var) * keras.random.normal((1,) + tuple(z_mean.shape), seed=model.noise)
    log_posterior = elbo.cluster_log_posterior(model.prior.distribution(), z)
    np.testing.assert_allclose(own["kl_c"].numpy(),
                               elbo.kl_terms(z_mean, z_log_var, log_posterior,
                                             model.prior.distribution())[1][0].numpy(),
                               rtol=1e-5)
    assert not np.allclose(own["kl_c"].numpy(), fed["kl_c"].numpy())


@pytest.mark.parametrize("separate_optimizer", [False, True])
def test_warmup_can_hold_the_mixture_still_while_the_networks_move(separate_optimizer):
    """Frozen during the warm-up, pi, mu_c and sigma_c keep their values while the networks train;
    after it, the mixture moves again."""
    keras.utils.set_random_seed(0)
    x, log_gamma = tf.constant(_data(8)), partition_log_gamma(np.array([0, 1, 2, 0, 1, 2, 0, 1]), K)
    model = _model()
    mixture = keras.optimizers.SGD(0.1) if separate_optimizer else None
    model.compile(keras.optimizers.SGD(0.1), mixture_optimizer=mixture, warmup_steps=1,
                  warmup_kl_weight=7.0, warmup_freezes_mixture=True)
    network_before = [v.numpy().copy() for v in model.network_variables]
    mixture_before = [v.numpy().copy() for v in model.prior.mixture_variables]
    model.train_step((x, log_gamma))
    for old, variable in zip(mixture_before, model.prior.mixture_variables):
        np.testing.assert_array_equal(old, variable.numpy())
    assert any(not np.allclose(old, v.numpy()) for old, v in zip(network_before, model.network_variables))
    model.train_step((x, log_gamma))  # warm-up over
    assert all(not np.allclose(old, v.numpy()) for old, v in zip(mixture_before,
                                                                 model.prior.mixture_variables))


@pytest.mark.parametrize("step, release_steps, weight", [(0, 0, 5.0), (3, 3, 3.0)])
def test_warmup_kl_weight_scales_the_gradient_of_the_kl_terms(step, release_steps, weight):
    """With the reconstruction and the KL terms apart, the loss's gradient on the encoder's mean is
    exactly grad(-reconstruction) + w grad(kl_z + kl_c), with w the warm-up's weight (step 0 of 2)
    or the release's (step 3: one of three steps back to 1 taken)."""
    keras.utils.set_random_seed(1)
    x, log_gamma = tf.constant(_data(6)), partition_log_gamma(np.array([0, 1, 2, 0, 1, 2]), K)
    model = _model()
    model.compile(keras.optimizers.SGD(1.0), warmup_steps=2, warmup_kl_weight=5, release_steps=release_steps)
    model.optimizer.build(model.trainable_variables)
    model.optimizer.iterations.assign(step)
    variables = model.encoder.trainable_variables
    start = model.noise.state.numpy()

    def gradient(objective):
        model.noise.state.assign(start)
        with tf.GradientTape() as tape:
            loss = -tf.reduce_mean(objective(model.elbo_terms(x, log_gamma)))
        return tape.gradient(loss, variables)

    reconstruction = gradient(lambda t: t["reconstruction"])
    kl = gradient(lambda t: -(t["kl_z"] + t["kl_c"]))
    before = [v.numpy().copy() for v in variables]
    model.noise.state.assign(start)
    model.train_step((x, log_gamma))
    for old, variable, g_rec, g_kl in zip(before, variables, reconstruction, kl):
        expected = old - 1.0 * (g_rec.numpy() + weight * g_kl.numpy())
        np.testing.assert_allclose(variable.numpy(), expected, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("release_steps, weights", [
    (0, [5.0, 5.0, 1.0, 1.0, 1.0, 1.0]),
    (3, [5.0, 5.0, 4.0, 3.0, 2.0, 1.0]),
])
def test_kl_weight_returns_to_one_over_the_release_steps(release_steps, weights):
    """Steps 0-1 are the warm-up (weight 5); then the weight is 1 at once, or falls by equal steps
    to 1 over the release; without a warm-up it is 1 throughout, whatever the release."""
    model = _model()
    model.compile(keras.optimizers.SGD(1.0), warmup_steps=2, warmup_kl_weight=5, release_steps=release_steps)
    np.testing.assert_allclose([float(model.kl_weight(step)) for step in range(6)], weights, rtol=1e-6)
    model.compile(keras.optimizers.SGD(1.0), warmup_steps=0, warmup_kl_weight=5, release_steps=release_steps)
    assert [float(model.kl_weight(step)) for step in range(3)] == [1.0, 1.0, 1.0]


def test_warmup_pulls_the_clusters_to_the_given_partition():
    """From a random mixture, warm-up epochs make the model's own assignment the partition, cluster
    numbers included (without it they would match only up to a permutation)."""
    keras.utils.set_random_seed(0)  # the networks' initial weights: independent of the tests before
    rng = np.random.default_rng(0)
    partition = np.repeat(np.arange(K), 40)
    prototypes = np.kron(np.eye(K), np.ones((1, D // K)))
    x = np.abs(prototypes[partition] - (rng.uniform(size=(len(partition), D)) < 0.05)).astype(np.float32)
    model = _model()
    model.compile(keras.optimizers.Adam(3e-3), mixture_optimizer=keras.optimizers.Adam(3e-2),
                  warmup_steps=10 ** 6, jit_compile=False)
    batches = tf.data.Dataset.from_tensor_slices((x, partition_log_gamma(partition, K))).shuffle(
        120, seed=0).batch(20)
    model.fit(batches, epochs=40, verbose=0, shuffle=False)  # tf.data batches are already shuffled
    assert np.mean(np.argmax(model(x).numpy(), axis=1) == partition) > 0.95


def test_the_posterior_starts_at_a_fraction_of_the_clusters_spread():
    """start_posterior_width: q(z|x)'s variance is, for every input, the given fraction of the
    pi-weighted mean of the components' variances along each dimension."""
    model = _model(covariance="full")
    covariances = np.stack([np.diag([0.01, 0.04]), np.array([[0.5, 0.1], [0.1, 0.3]]), np.diag([2.0, 1.0])])
    weights = np.array([0.5, 0.25, 0.25])
    model.prior.set_mixture(weights, np.zeros((K, J)), covariances)
    start_posterior_width(model, 0.1)
    expected = 0.1 * np.sum(weights[:, None] * np.diagonal(covariances, axis1=1, axis2=2), axis=0)
    _, log_var = model.encoder(_data(5))
    np.testing.assert_allclose(np.exp(log_var.numpy()), np.tile(expected, (5, 1)), rtol=1e-5)


def test_set_mixture_round_trips_through_log_space():
    model = _model()
    weights, means, variances = np.array([0.2, 0.3, 0.5]), np.arange(6.0).reshape(3, 2), np.full((3, 2), 0.1)
    model.prior.set_mixture(weights, means, variances)
    prior = model.prior.distribution()
    np.testing.assert_allclose(prior.mixture_distribution.probs_parameter(), weights, rtol=1e-6)
    np.testing.assert_allclose(prior.components_distribution.variance(), variances, rtol=1e-5)


def test_constructor_rejects_bad_arguments_by_name():
    with pytest.raises(ValueError, match="n_clusters must be a positive integer, received 0"):
        make_vade(D, 0)
    with pytest.raises(ValueError, match="likelihood"):
        make_vade(D, 2, likelihood="poisson")


def test_staircase_decay_follows_the_papers_schedule():
    schedule = StaircaseDecay(0.002, 0.9, decay_epochs=10, steps_per_epoch=7, floor=0.0015)
    assert float(schedule(0)) == pytest.approx(0.002)
    assert float(schedule(69)) == pytest.approx(0.002)        # epoch 9
    assert float(schedule(70)) == pytest.approx(0.0018)       # epoch 10
    assert float(schedule(700)) == pytest.approx(0.0015)      # floored


@pytest.mark.parametrize("spec", [{}, {"architecture": "conv", "filters": [4], "image_shape": [3, 4, 1]}])
def test_a_models_config_rebuilds_the_same_model(spec):
    """rundir.MODEL_SPEC_KEYS lets tools check model.json without TensorFlow; it must not drift, and
    from_config of get_config gives a model of the same config whose weights load one to one."""
    from vade_tf import rundir

    model = make_vade(D, K, latent_dim=J, covariance="full", **spec)
    config = model.get_config()
    assert set(config) == rundir.MODEL_SPEC_KEYS
    rebuilt = VaDE.from_config(config)
    rebuilt.build((None, D))
    assert rebuilt.get_config() == config
    rebuilt.set_weights(model.get_weights())
    x = _data()
    np.testing.assert_array_equal(rebuilt(x).numpy(), model(x).numpy())
