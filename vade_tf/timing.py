"""Where a run's time goes: seconds per named phase, and Keras callbacks timed inside ``fit``."""
from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Optional

import keras


class Stopwatch:
    """Seconds accumulated per named phase of a run (pretraining, partition, training, evaluation, ...)."""

    def __init__(self):
        self.seconds: dict[str, float] = {}

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds

    @contextmanager
    def phase(self, name: str, say: Optional[str] = None):
        """Time the block as ``name``; with ``say``, print "<say> ... <duration>" when it ends well."""
        start = time.perf_counter()
        try:
            yield
        finally:
            seconds = time.perf_counter() - start
            self.add(name, seconds)
        if say:
            print(f"{say} ... {duration(seconds)}", flush=True)


def duration(seconds: float) -> str:
    """Seconds as people read them: 0.4s, 12s, 6m12s, 1h02m."""
    if seconds < 10:
        return f"{seconds:.1f}s"
    if seconds < 60:
        return f"{seconds:.0f}s"
    minutes, seconds = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    return f"{minutes // 60}h{minutes % 60:02d}m"


class TimedCallback(keras.callbacks.Callback):
    """``callback`` itself, with the seconds its hooks take added to ``stopwatch`` under ``name``: so
    the time ``fit`` spends on evaluation, checkpoints and summaries is told apart from the steps'."""

    HOOKS = ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end", "on_train_batch_begin",
             "on_train_batch_end", "on_test_begin", "on_test_end")

    def __init__(self, callback: keras.callbacks.Callback, stopwatch: Stopwatch, name: str):
        super().__init__()
        self.callback, self.stopwatch, self.name = callback, stopwatch, name

    def set_model(self, model):
        super().set_model(model)
        self.callback.set_model(model)

    def set_params(self, params):
        super().set_params(params)
        self.callback.set_params(params)


def _timed_hook(hook: str):
    def forward(self, *args, **kwargs):
        with self.stopwatch.phase(self.name):
            getattr(self.callback, hook)(*args, **kwargs)
    forward.__name__ = hook
    return forward


for _hook in TimedCallback.HOOKS:
    setattr(TimedCallback, _hook, _timed_hook(_hook))
