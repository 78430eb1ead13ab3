"""Multi-seed experiments: methods x seeds from one config, aggregated next to the paper's figures.

Every (method, seed) is an ordinary run directory, trained by ``train_and_evaluate``, so an
interrupted experiment picks up where it stopped: a finished run whose config matches is read back,
an unfinished one resumes from its checkpoints. Within a seed, the methods built on the autoencoder
(VaDE, AE+GMM, VAE+GMM) share one pretraining: the first pretrains, the others reuse it
(``pretrain.from_dir``), so their differences are the method's alone.
"""
from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from vade_tf import files, rundir
from vade_tf.config import Config, config_from_dict, load_config
from vade_tf.dotted import flat
from vade_tf.errors import ConfigError
from vade_tf.pretraining_cache import cache_reuse, pretrain_fingerprint
from vade_tf.recipe import prepare
from vade_tf.registry import METHODS
from vade_tf.validation import AUTO

# Table 2 of Jiang et al. (2017), clustering accuracy in %.
PAPER_ACC = {
    "mnist": {"gmm": 53.73, "ae_gmm": 82.18, "vae_gmm": 72.94, "vade": 94.46},
    "hhar": {"gmm": 60.34, "ae_gmm": 77.67, "vae_gmm": 68.02, "vade": 84.46},
    "reuters10k": {"gmm": 54.72, "ae_gmm": 70.13, "vae_gmm": 69.56, "vade": 79.83},
    "reuters": {"gmm": 55.81, "ae_gmm": 70.98, "vae_gmm": 60.89, "vade": 79.38},
    "stl10": {"gmm": 72.44, "ae_gmm": 79.83, "vae_gmm": 78.86, "vade": 84.45},
}
# The number of clusters behind each Table 2 figure (the dataset's classes): with another K the
# paper has no figure to stand beside.
PAPER_CLUSTERS = {"mnist": 10, "hhar": 6, "reuters10k": 4, "reuters": 4, "stl10": 10}
METRICS = ("acc", "nmi", "ari", "v_measure")
# What each run's record keeps of every epoch.
EPOCH_KEYS = ("epoch", "acc", "nmi", "v_measure", "elbo", "partition_agreement", "largest_cluster",
              "evaluation_acc", "evaluation_nmi", "evaluation_v_measure")
# The authors' protocol trains and scores on every sample; held-out trains on the train split and
# is scored on the test split too.
PROTOCOLS = {"all": {"data.split": "all", "data.evaluate_split": None},
             "heldout": {"data.split": "train", "data.evaluate_split": "test"}}


@dataclasses.dataclass(frozen=True)
class Experiment:
    name: str
    config_path: Optional[str]
    methods: tuple[str, ...]
    seeds: tuple[int, ...]
    protocol: str = "all"
    runs_dir: Path = Path("runs/experiments")
    overrides: dict = dataclasses.field(default_factory=dict)          # every method
    method_overrides: dict = dataclasses.field(default_factory=dict)   # method -> {key: value}
    run_dir_templates: dict = dataclasses.field(default_factory=dict)  # method -> "path/with/{seed}"

    def run_dir(self, method: str, seed: int) -> Path:
        template = self.run_dir_templates.get(method)
        if template is not None:
            return Path(template.format(seed=seed))
        return self.runs_dir / self.name / method / f"seed-{seed}"

    def config(self, method: str, seed: int) -> Config:
        overrides = {**self.overrides, **PROTOCOLS[self.protocol], **self.method_overrides.get(method, {}),
                     "method": method, "seed": seed}
        return load_config(self.config_path, overrides)


def check_experiment(experiment: Experiment) -> None:
    """One-line errors for an experiment that cannot run, before any training."""
    unknown = [m for m in experiment.methods if m not in METHODS]
    if unknown:
        raise ConfigError(f"unknown method '{unknown[0]}'; choose from {', '.join(METHODS)}")
    if experiment.protocol not in PROTOCOLS:
        raise ConfigError(f"unknown protocol '{experiment.protocol}'; choose from {', '.join(PROTOCOLS)}")
    if not experiment.seeds or len(set(experiment.seeds)) != len(experiment.seeds):
        raise ConfigError(f"seeds {list(experiment.seeds)}: give at least one, each once")
    for method in [*experiment.method_overrides, *experiment.run_dir_templates]:
        if method not in experiment.methods:
            raise ConfigError(f"'{method}:' settings for a method this experiment does not run; "
                              f"its methods: {', '.join(experiment.methods)}")
    for method in experiment.methods:
        experiment.config(method, experiment.seeds[0])  # every override validated up front


def _comparable(config: dict) -> dict:
    """A config as dotted keys with defaults filled in, without its notes, where things are and when
    it saves: a finished run is reused whatever those hold."""
    flattened = flat(config_from_dict(config).to_dict())
    return {key: value for key, value in flattened.items()
            if key != "notes" and key not in rundir.LOCATION_KEYS + rundir.SCHEDULE_KEYS}


def finished_metrics(run_dir: Path, config: Config) -> Optional[dict]:
    """The metrics of a finished run of ``config`` in ``run_dir``; None when it has not finished.
    A finished run of another config is an error: its results must not be mistaken for these. A value
    ``config`` leaves "auto" after ``resolve_auto`` (the number of clusters, and what follows it) is
    the one the run chose, whatever it is."""
    metrics_path, config_path = run_dir / rundir.METRICS_FILE, run_dir / rundir.CONFIG_FILE
    if not metrics_path.exists():
        return None
    try:
        stored = _comparable(json.loads(config_path.read_text()))
    except ConfigError as e:
        raise ConfigError(f"{run_dir} holds a finished run that this vade_tf cannot read ({e}); pass another "
                          "--runs-dir or remove it") from None
    wanted = _comparable(config.to_dict())
    differ = sorted(key for key in wanted if wanted[key] != AUTO and stored.get(key) != wanted[key])
    if differ:
        raise ConfigError(f"{run_dir} holds a finished run of another config (differs in "
                          f"{', '.join(differ)}); pass another --runs-dir or remove it")
    return json.loads(metrics_path.read_text())


def _holds_pretraining(run_dir: Path, config: Config, input_dim: int) -> bool:
    """Whether ``run_dir`` holds a finished pretraining that ``config`` would reproduce exactly."""
    info = run_dir / rundir.PRETRAIN_DIR / rundir.PRETRAIN_INFO
    cached = json.loads(info.read_text()) if info.exists() else None
    return cache_reuse(cached, pretrain_fingerprint(config, input_dim, config.seed)) == "pretraining"


def _shared_pretraining(experiment: Experiment, seed: int, config: Config, input_dim: int) -> Optional[Path]:
    """The first run directory of this seed's autoencoder methods whose pretraining ``config`` would
    reproduce (finished before, or earlier in this experiment); None: pretrain anew."""
    for method in experiment.methods:
        donor = experiment.run_dir(method, seed)
        if METHODS[method].uses_autoencoder and _holds_pretraining(donor, config, input_dim):
            return donor
    return None


def summarise(values: list[float]) -> dict:
    """Mean, sample standard deviation, median, range and count of one metric over seeds."""
    array = np.asarray(values, np.float64)
    return {"mean": float(array.mean()), "std": float(array.std(ddof=1)) if len(array) > 1 else 0.0,
            "median": float(np.median(array)), "min": float(array.min()), "max": float(array.max()),
            "n": int(len(array))}


def _record(seed: int, run_dir: Path, metrics: dict) -> dict:
    """One run's line in the results: final scores, wall time and where it went, and for VaDE the
    starting partition's scores (and the starting model's on the held-out split) and every epoch's
    ACC, V-measure, ELBO and agreement with that partition."""
    record = {"seed": seed, "run_dir": str(run_dir), "wall_time_s": metrics.get("wall_time_s"),
              **{m: metrics[m] for m in METRICS if m in metrics}}
    for key in ("evaluation", "seconds"):
        if key in metrics:
            record[key] = metrics[key]
    if "restarts" in metrics:
        best = metrics["restarts"][metrics["best_restart"]]
        if "partition" in best["init"]:
            record["start"] = {"partition": best["init"]["partition"], "prior": best["init"]["vade_init"]}
            if "evaluation" in best["init"]:
                record["start"]["evaluation"] = best["init"]["evaluation"]
        record["per_epoch"] = [{k: e[k] for k in EPOCH_KEYS if k in e} for e in best["epochs"]]
    return record


def _summaries(records: list[dict]) -> dict:
    summary = {m: summarise([r[m] for r in records]) for m in METRICS if all(m in r for r in records)}
    if all("evaluation" in r for r in records):
        summary["evaluation"] = {m: summarise([r["evaluation"][m] for r in records]) for m in METRICS}
    return summary


def run_experiment(experiment: Experiment, verbose: int = 1, command: Optional[str] = None,
                   on_progress: Optional[Callable[[dict], None]] = None) -> dict:
    """Train (or read back) every method for every seed; return the aggregated result.

    ``on_progress`` gets the result over the runs finished so far after each run, so a long
    experiment that is stopped has recorded what it measured."""
    from vade_tf.data import load_dataset
    from vade_tf.runs import train_checked

    check_experiment(experiment)
    start = time.perf_counter()
    first = experiment.config(experiment.methods[0], experiment.seeds[0])
    data = load_dataset(first.data)  # every method and seed trains on the same samples
    records: dict[str, list[dict]] = {m: [] for m in experiment.methods}
    for seed in experiment.seeds:
        for method in experiment.methods:
            config, _ = prepare(experiment.config(method, seed), data)
            run_dir = experiment.run_dir(method, seed)
            # Restarts pretrain one autoencoder each (seeds seed..seed+N-1): nothing to share.
            shares = METHODS[method].uses_autoencoder and config.train.restarts == 1
            if shares and config.pretrain.from_dir is None:
                donor = _shared_pretraining(experiment, seed, config, data.input_dim)
                if donor is not None and donor != run_dir:
                    config = dataclasses.replace(
                        config, pretrain=dataclasses.replace(config.pretrain, from_dir=str(donor)))
            metrics = finished_metrics(run_dir, config)
            if metrics is None:
                if verbose:
                    print(f"== {experiment.name}: {method}, seed {seed} -> {run_dir}", flush=True)
                metrics = train_checked(config, data, run_dir, verbose=verbose, command=command)
            elif verbose:
                print(f"== {experiment.name}: {method}, seed {seed}: finished in {run_dir}, read back")
            records[method].append(_record(seed, run_dir, metrics))
            if on_progress is not None:
                on_progress(_result(experiment, command, first, len(data.x), records, start))
    return _result(experiment, command, first, len(data.x), records, start)


def paper_accuracy(config: Config) -> dict:
    """Table 2's ACC per method for the config's dataset, when it clusters into the paper's K."""
    dataset = config.data.name
    return PAPER_ACC.get(dataset, {}) if config.model.n_clusters == PAPER_CLUSTERS.get(dataset) else {}


def _result(experiment: Experiment, command: Optional[str], config: Config, n_samples: int,
            records: dict[str, list[dict]], start: float) -> dict:
    dataset, paper = config.data.name, paper_accuracy(config)
    return {"experiment": experiment.name, "command": command, "config": experiment.config_path,
            "dataset": dataset, "n_samples": int(n_samples), "protocol": experiment.protocol,
            "seeds": list(experiment.seeds), "overrides": experiment.overrides,
            "method_overrides": experiment.method_overrides,
            "methods": {m: {"runs": list(runs), "summary": _summaries(runs) if runs else {},
                            "paper_acc": paper.get(m)}
                        for m, runs in records.items()},
            "versions": rundir.library_versions(), "wall_time_s": time.perf_counter() - start}


def _cell(summary: dict, metric: str) -> str:
    if metric not in summary:
        return "-"
    s = summary[metric]
    return f"{100 * s['mean']:.2f} ± {100 * s['std']:.2f} ({100 * s['median']:.2f})"


def markdown_table(result: dict) -> str:
    """The result as Markdown: per method, mean ± std (median) over the seeds, in %, beside the paper."""
    seeds = ", ".join(str(s) for s in result["seeds"])
    done = min(len(m["runs"]) for m in result["methods"].values())
    progress = "" if done == len(result["seeds"]) else f" (finished so far: {done} of {len(result['seeds'])})"
    lines = [f"# {result['experiment']}: {result['dataset']} ({result['n_samples']} samples), "
             f"protocol '{result['protocol']}', seeds {seeds}{progress}", "",
             "Each cell: mean ± sample std (median) over the seeds, in %. "
             "Paper: Jiang et al. (2017), Table 2.", ""]
    if result.get("command"):
        lines += [f"Command: `{result['command']}`", ""]
    blocks = [("trained-on samples", lambda summary: summary)]
    if any("evaluation" in m["summary"] for m in result["methods"].values()):
        blocks.append(("held-out split", lambda summary: summary.get("evaluation", {})))
    for title, pick in blocks:
        lines += [f"## Scored on the {title}", "",
                  "| method | ACC | NMI | ARI | V-measure | paper ACC |", "|---|---|---|---|---|---|"]
        for method in [m for m in METHODS if m in result["methods"]]:  # the paper's row order
            entry = result["methods"][method]
            summary, paper = pick(entry["summary"]), entry["paper_acc"]
            cells = " | ".join(_cell(summary, m) for m in METRICS)
            paper_cell = "-" if paper is None else f"{paper:.2f}"
            lines.append(f"| {METHODS[method].title} | {cells} | {paper_cell} |")
        lines.append("")
    # Start -> end of each run, in ACC and V-measure: on the trained-on samples the start is the
    # spectral partition; on the held-out split, the model made from it before training.
    held_out = len(blocks) > 1
    header = "| method | seed | ACC: start → end | V-measure: start → end |"
    if held_out:
        header += " held-out ACC: start → end | held-out V-measure: start → end |"
    lines += ["## Per run", "", header + " wall time (min) |", "|---" * header.count("|") + "|"]
    for method in [m for m in METHODS if m in result["methods"]]:
        for run in result["methods"][method]["runs"]:
            start = run.get("start", {})
            cells = [_change(start.get("partition", {}), run, "acc"),
                     _change(start.get("partition", {}), run, "v_measure")]
            if held_out:
                cells += [_change(start.get("evaluation", {}), run.get("evaluation", {}), metric)
                          for metric in ("acc", "v_measure")]
            minutes = "-" if run.get("wall_time_s") is None else f"{run['wall_time_s'] / 60:.1f}"
            lines.append(f"| {METHODS[method].title} | {run['seed']} | {' | '.join(cells)} | {minutes} |")
    lines.append("")
    return "\n".join(lines)


def _change(start: dict, end: dict, metric: str) -> str:
    """'start → end' in %, or the end alone when the run has no start (the baselines)."""
    if metric not in end:
        return "-"
    if metric not in start:
        return f"{100 * end[metric]:.2f}"
    return f"{100 * start[metric]:.2f} → {100 * end[metric]:.2f}"


def write_results(result: dict, results_dir: Path) -> tuple[Path, Path]:
    """results/<experiment>.json and .md (atomic writes)."""
    json_path = Path(results_dir) / f"{result['experiment']}.json"
    md_path = json_path.with_suffix(".md")
    files.write_json(json_path, result)
    files.write_text(md_path, markdown_table(result))
    return json_path, md_path
