"""tf.distribute: the strategy ``train.strategy`` names, the checks it needs, and the chief's broadcast."""
from __future__ import annotations

import tensorflow as tf

from vade_tf.errors import ConfigError


def make_strategy(name: str) -> tf.distribute.Strategy:
    """The tf.distribute strategy ``train.strategy`` names: "mirrored" spans every local GPU (one
    replica on a CPU-only machine); "multi_worker" every worker that ``TF_CONFIG`` lists (made once
    per process, before other TensorFlow work); "default" is the ambient one-device strategy."""
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def worker_count(strategy: tf.distribute.Strategy) -> int:
    """How many worker processes ``strategy`` spans (1 unless multi-worker)."""
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return 1
    return strategy.extended._num_workers  # noqa: SLF001 (no public accessor in TF 2.21)


def replicated() -> bool:
    """Whether the steps run on several replicas in sync. Keras 3.15 can neither XLA-compile such a
    step (a replica's optimizer variables live on another device) nor run several of them per
    execution, so both are off there; one replica, under any strategy, keeps them."""
    return tf.distribute.get_strategy().num_replicas_in_sync > 1


def broadcast_from_chief(strategy: tf.distribute.Strategy, variables) -> None:
    """Give every replica of every worker the values that global replica 0 (the chief) holds.

    The mixture is fitted in each worker's own process (scikit-learn); this makes the chief's fit the
    one all workers train from, even if their fits differed in the last bit.
    """
    def chief_values():
        context = tf.distribute.get_replica_context()
        is_chief = tf.cast(tf.equal(context.replica_id_in_sync_group, 0), tf.float32)
        return [context.all_reduce("sum", tf.convert_to_tensor(v) * is_chief) for v in variables]

    for variable, value in zip(variables, strategy.run(chief_values)):
        variable.assign(strategy.experimental_local_results(value)[0])


def check_strategy(config, strategy: tf.distribute.Strategy) -> None:
    """What only the running strategy can tell: one process per device, a batch that splits evenly."""
    workers = worker_count(strategy)
    if strategy.num_replicas_in_sync != workers and config.train.strategy == "multi_worker":
        raise ConfigError(f"train.strategy=multi_worker: {strategy.num_replicas_in_sync} devices for "
                          f"{workers} workers; one process per device (set CUDA_VISIBLE_DEVICES for each)")
    if config.train.batch_size % workers:
        raise ConfigError(f"train.batch_size: {config.train.batch_size} does not split evenly over {workers} "
                          f"workers; use a multiple of {workers}")
