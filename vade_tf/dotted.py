"""Config dicts addressed by dotted keys (``train.epochs``, ``model.networks.hidden_dims``): how
``--set``, ``vade-experiment``'s per-method settings and the estimator's ``settings`` name a key."""
from __future__ import annotations

import json
from typing import Any

from vade_tf.errors import ConfigError


def flat(config_dict: dict, prefix: str = "") -> dict:
    """A config's dict as dotted keys: {"train.epochs": 15, ..., "model.networks.hidden_dims": [...],
    "seed": 0}."""
    flattened = {}
    for name, value in config_dict.items():
        if isinstance(value, dict):
            flattened.update(flat(value, f"{prefix}{name}."))
        else:
            flattened[prefix + name] = value
    return flattened


def parse_override(text: str) -> tuple[str, Any]:
    """Parse ``section.key=value``; the value is JSON when it parses as JSON, else a plain string."""
    if "=" not in text or not text.split("=", 1)[0].strip():
        raise ConfigError(f"--set {text!r}: expected section.key=value, e.g. train.epochs=5")
    key, value = (part.strip() for part in text.split("=", 1))
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def apply_overrides(raw: dict, overrides: dict[str, Any]) -> dict:
    """Return a copy of ``raw`` with dotted keys set; validation happens afterwards, on the whole."""
    raw = json.loads(json.dumps(raw))
    for dotted, value in overrides.items():
        node = raw
        *parents, leaf = dotted.split(".")
        for part in parents:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"--set {dotted}: '{part}' is not a section")
            node = child
        node[leaf] = value
    return raw
