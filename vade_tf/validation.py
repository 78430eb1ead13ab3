"""Checks that a config can work, in one place: each key against its type and the values its
``setting`` allows, the keys against each other, and the config against the data it is given.

Every failure is one :class:`ConfigError` (or ``DataError`` for the data's own values) that names
the key and the fix, raised before any work is done and before TensorFlow is imported.
"""
from __future__ import annotations

import dataclasses
import difflib
import math
import typing
from typing import Any, Callable, Optional

import numpy as np

from vade_tf.data.dataset import in_memory
from vade_tf.data.sparse import SparseRows
from vade_tf.errors import ConfigError, DataError
from vade_tf.registry import ARCHITECTURES, LIKELIHOODS, METHODS, PRETRAININGS, STARTS

# A value the recipe derives from the data (``recipe.resolve_auto``), allowed where a setting says auto=True.
AUTO = "auto"


def setting(default: Any, **allowed: Any):
    """A config field: its default and what ``check_config`` allows (``choices``; bounds ``minimum``,
    ``above``, ``below``, ``at_most``; ``nonempty`` for a list), applied to each item of a list;
    ``auto=True``: the string "auto" is allowed too, and ``recipe.resolve_auto`` replaces it with a
    value derived from the data before the run (its config.json holds the resolved value)."""
    return dataclasses.field(default=default, metadata=allowed)


def require_positive_integers(**sizes: Any) -> None:
    """Raise a ValueError naming the first of ``sizes`` that is not a positive integer: what a model's
    part checks of the sizes it is built with."""
    for name, value in sizes.items():
        if isinstance(value, bool) or int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer, received {value!r}")


def section(schema: Callable[[dict], type]):
    """A config section whose dataclass depends on the keys before it: ``schema`` takes those keys'
    values (stated or default) and returns it (``model.networks``: the architecture's options)."""
    return dataclasses.field(default=None, metadata={"schema": schema})


def _coerce(path: str, value: Any, annotation: Any) -> Any:
    """Check ``value`` against a dataclass field type; return it in the field's own type."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Union:  # Optional[X]
        if value is None:
            return None
        return _coerce(path, value, next(a for a in args if a is not type(None)))
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{path}: expected a list of integers, got {value!r}")
        return tuple(_coerce(f"{path}[{i}]", v, args[0]) for i, v in enumerate(value))
    if annotation is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: expected true or false, got {value!r}")
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{path}: expected an integer, got {value!r}")
        return value
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{path}: expected a number, got {value!r}")
        if not math.isfinite(value):  # JSON parsers accept NaN and Infinity; no setting means them
            raise ConfigError(f"{path}: got {value!r}, must be a finite number")
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise ConfigError(f"{path}: expected a string, got {value!r}")
        return value
    raise TypeError(f"unsupported config field type {annotation!r} at {path}")


def build(cls: type, raw: Any, prefix: str) -> Any:
    """An instance of the config dataclass ``cls`` from JSON ``raw``, every key known and typed."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: expected a JSON object, got {raw!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    names = list(fields)
    unknown = [k for k in raw if k not in names]
    if unknown:
        key = unknown[0]
        close = difflib.get_close_matches(key, names, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else f"; allowed keys: {', '.join(names)}"
        raise ConfigError(f"unknown config key '{prefix}{key}'{hint}")
    values = {}
    for name in names:
        path = prefix + name
        schema = fields[name].metadata.get("schema")
        if schema is not None:
            before = {n: values.get(n, fields[n].default) for n in names[:names.index(name)]}
            try:
                section_class = schema(before)
            except KeyError:  # a key it depends on names nothing known: check_config says which
                continue
            values[name] = build(section_class, raw.get(name, {}), path + ".")
            continue
        if name not in raw:
            continue
        if dataclasses.is_dataclass(hints[name]):
            values[name] = build(hints[name], raw[name], path + ".")
        elif raw[name] == AUTO and fields[name].metadata.get("auto"):
            values[name] = AUTO  # resolved from the data before the run (recipe.resolve_auto)
        else:
            values[name] = _coerce(path, raw[name], hints[name])
    return cls(**values)


def _allowed(path: str, value: Any, allowed: dict) -> None:
    """``value`` (each item of a list) against a field's ``setting``."""
    if value == AUTO and allowed.get("auto"):
        return
    if "choices" in allowed:
        for item in value if isinstance(value, tuple) else (value,):
            if item not in allowed["choices"]:
                names = ", ".join("null" if a is None else a for a in allowed["choices"])
                raise ConfigError(f"{path}: unknown value {item!r}; allowed: {names}")
    if isinstance(value, tuple) and "minimum" in allowed:
        if (allowed.get("nonempty") and not value) or any(item < allowed["minimum"] for item in value):
            kind = "a non-empty list" if allowed.get("nonempty") else "a list (empty for none)"
            raise ConfigError(f"{path}: got {list(value)!r}, must be {kind} of values >= "
                              f"{allowed['minimum']}")
        return
    if value is None or not {"minimum", "above"} & set(allowed):
        return
    low, strict = (allowed["above"], True) if "above" in allowed else (allowed["minimum"], False)
    high, open_high = (allowed["below"], True) if "below" in allowed else (allowed.get("at_most"), False)
    if value < low or (strict and value == low) or (high is not None and (value > high or
                                                                          (open_high and value == high))):
        if high is None:
            bound = f"> {low}" if strict else f">= {low}"
        else:
            bound = f"in {'(' if strict else '['}{low}, {high}{')' if open_high else ']'}"
        raise ConfigError(f"{path}: got {value!r}, must be {bound}")


def _settings(node, prefix: str = ""):
    """(dotted key, value, its setting's allowed values) of every constrained field of a config."""
    for item in dataclasses.fields(node):
        value = getattr(node, item.name)
        if dataclasses.is_dataclass(value):
            yield from _settings(value, f"{prefix}{item.name}.")
        elif item.metadata:
            yield prefix + item.name, value, item.metadata


def _fields(node) -> dict:
    return {item.name: getattr(node, item.name) for item in dataclasses.fields(node)}


def fill_sections(node) -> None:
    """Give each ``section`` field of ``node`` left None the defaults of its schema: a config made in
    code, not read from JSON, states none."""
    for item in dataclasses.fields(node):
        schema = item.metadata.get("schema")
        if schema is not None and getattr(node, item.name) is None:
            try:
                object.__setattr__(node, item.name, schema(_fields(node))())
            except KeyError:  # a key it hangs on names nothing known: check_config says which
                pass


def _check_sections(node, prefix: str = "") -> None:
    """Each ``section`` of the schema the keys before it name (a config changed in code may pair an
    architecture with another's options)."""
    for item in dataclasses.fields(node):
        value, schema = getattr(node, item.name), item.metadata.get("schema")
        if schema is not None:
            try:
                expected = schema(_fields(node))
            except KeyError:  # an unknown name, which _allowed reports
                continue
            if not isinstance(value, expected):
                raise ConfigError(f"{prefix}{item.name}: holds {type(value).__name__} settings, not the "
                                  f"{expected.__name__} its section needs; state them anew")
        elif dataclasses.is_dataclass(value):
            _check_sections(value, f"{prefix}{item.name}.")


def check_config(config) -> None:
    """Every value within its ``setting``, and the keys consistent with each other."""
    for path, value, allowed in _settings(config):
        _allowed(path, value, allowed)
    _check_sections(config)
    model, train = config.model, config.train
    if model.n_clusters == AUTO:
        if model.min_clusters > model.max_clusters:
            raise ConfigError(f"model.min_clusters={model.min_clusters} is above model.max_clusters="
                              f"{model.max_clusters}; the range auto chooses K from must hold at least one K")
        if METHODS[config.method].fit is not None:
            raise ConfigError(f"model.n_clusters: auto is chosen from VaDE's pretrained latent; set a number "
                              f"for method={config.method}")
    layerwise = PRETRAININGS[config.pretrain.method].layerwise
    if layerwise and not ARCHITECTURES[model.architecture].dense_layer_pairs:
        raise ConfigError(f"pretrain.method: {config.pretrain.method} trains dense layers one by one, "
                          f"which a {model.architecture} architecture does not have; use plain or denoising")
    if train.strategy == "multi_worker" and config.pretrain.from_dir is None:
        # Keras 3.15 cannot fit the (input, target) pairs of pretraining across workers.
        raise ConfigError("train.strategy=multi_worker needs pretrain.from_dir: pretrain once in one process "
                          "(same config, --epochs 0, default strategy) and point every worker at that run")
    if train.partition_warmup_epochs not in (0, AUTO) and train.strategy == "multi_worker":
        raise ConfigError("train.partition_warmup_epochs needs in-memory features and one worker; set it "
                          "to 0 for this run")


def check_data(config, data) -> None:
    """Fail before any work when ``data`` (a loaded Dataset) cannot serve ``config``."""
    check_values(data.x, data.name, config.model.likelihood)
    if config.train.batch_size > len(data.x):
        raise ConfigError(f"train.batch_size: got {config.train.batch_size}, larger than the "
                          f"{len(data.x)} samples of {data.name}; lower it")
    if not data.in_memory:
        if PRETRAININGS[config.pretrain.method].layerwise:
            raise ConfigError(f"pretrain.method: {config.pretrain.method} keeps every layer's codes in "
                              f"memory, which {data.name}'s streamed features do not allow; use plain or "
                              "denoising")
        if config.train.partition_warmup_epochs:
            raise ConfigError("train.partition_warmup_epochs needs in-memory features and one worker; set it "
                              "to 0 for this run")
        features = [m for m in (config.pretrain.mixture_init, *config.pretrain.other_starts)
                    if STARTS[m].clusters_features]
        if features:
            raise ConfigError(f"pretrain: the {features[0]} start clusters the features in memory, which "
                              f"{data.name}'s streamed features do not allow; set pretrain.other_starts=[] "
                              "and another mixture_init")
        if config.train.validation_fraction:
            raise ConfigError("train.validation_fraction: streamed features cannot be split in memory; "
                              "set it to 0")
        if METHODS[config.method].fit is not None:
            raise ConfigError(f"method={config.method}: the GaussianMixture needs in-memory features, which "
                              f"{data.name} streams from disk; use method=vade")
    model = config.model
    # "auto" may choose up to max_clusters, and its neighbour graph needs two samples more than that.
    choosing = model.n_clusters == AUTO
    key, largest = ("model.max_clusters", model.max_clusters) if choosing else ("model.n_clusters",
                                                                                model.n_clusters)
    if choosing and len(data.x) < largest + 2:
        raise ConfigError(f"model.max_clusters: got {largest}, but {data.name} has {len(data.x)} samples and "
                          "choosing K needs at least max_clusters + 2; lower it")
    distinct = distinct_rows(data.x, largest)
    if distinct is not None and distinct < largest:
        raise DataError(f"{data.name} has {distinct} distinct rows, fewer than {key}={largest}: no "
                        "partition gives every cluster a sample; pass varied samples or lower the number "
                        "of clusters")


def distinct_rows(x, enough: int, seed: int = 0) -> Optional[int]:
    """The number of distinct rows of in-memory features, or ``enough`` as soon as a random 2,000 of
    them hold that many (a large dataset is not sorted whole); None for streamed features."""
    if not in_memory(x):
        return None
    dense = (lambda rows: rows.toarray()) if isinstance(x, SparseRows) else np.asarray
    if len(x) > 2000:
        sample = dense(x[np.random.default_rng(seed).choice(len(x), 2000, replace=False)])
        if len(np.unique(sample, axis=0)) >= enough:
            return enough
    return len(np.unique(dense(x), axis=0))


def check_values(x, source: str, likelihood: Optional[str],
                 fix: str = "rescale or set model.likelihood=gaussian") -> None:
    """Features finite (when held in memory; streamed shards were checked when prepared) and inside
    ``likelihood``'s support (None: any finite value): what training, the estimator and the predict
    command check of every matrix or batch they read; ``fix`` ends the support's error."""
    if isinstance(x, SparseRows):
        finite = x.all_finite()
    else:
        finite = not in_memory(x) or np.all(np.isfinite(x))
    if not finite:
        raise DataError(f"{source}: features contain NaN or Inf; clean or impute them first")
    support = None if likelihood is None else LIKELIHOODS[likelihood].support
    if support is not None and len(x) and (x.min() < support[0] or x.max() > support[1]):
        raise DataError(f"{source}: features lie in [{x.min():g}, {x.max():g}] but the {likelihood} "
                        f"likelihood needs [{support[0]:g}, {support[1]:g}]; {fix}")


def estimator_rows(estimator, X, reset: bool):
    """``X`` as a float32 array or CSR matrix, checked as scikit-learn checks an estimator's input
    (``reset``: and remembered as what ``estimator`` is fitted on), every refusal one line."""
    from sklearn.utils.validation import validate_data

    dimensions = X.ndim if hasattr(X, "ndim") else np.asarray(X).ndim
    if dimensions != 2:  # scikit-learn's own message prints all of X
        raise ValueError(f"Expected 2D array, got {dimensions}D input instead. Reshape your data: "
                         "X.reshape(-1, 1) for a single feature, X.reshape(1, -1) for a single sample")
    try:
        return validate_data(estimator, X, accept_sparse="csr", dtype=np.float32, reset=reset)
    except ValueError as e:  # some of scikit-learn's messages run over several lines
        raise ValueError(" ".join(line.strip() for line in str(e).splitlines() if line.strip())) from None
