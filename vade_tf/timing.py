"""Where a run's time goes: seconds per named phase."""
from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Optional


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
