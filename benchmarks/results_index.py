"""The index of ``results/``, the figures README.md quotes and the user guide's results page, all
written from the records.

    python -m benchmarks.results_index          # rewrite results/README.md, README's results, the page
    python -m benchmarks.results_index --check  # exit 1, saying which, when one differs

Every measurement is recorded once, as JSON in ``results/``. This writes ``results/README.md``, a row
per record (what it measured, its command, the commit it measured, the day it was recorded, its
headline figure, its files), the block of README.md between ``BEGIN`` and ``END`` and
``docs/guide/results.md``, so a figure they quote can only come from a record (a test runs
``--check``).
"""
from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "results"
README = ROOT / "README.md"
RESULTS_PAGE = ROOT / "docs" / "guide" / "results.md"
BEGIN = "<!-- results: written from results/ by python -m benchmarks.results_index -->"
END = "<!-- end of results -->"
HEADLINES = ["mnist-vade-10seeds-e15", "fashion-mnist-3seeds"]  # README's rows
PUBLISHED = "published-vade"           # VaDE's published ACC, beside them
DATASET_TITLES = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST"}
GENERALITY = "bench-datasets"          # README's sentence on data nobody tuned it for


def _cell(summary: dict) -> str:
    """mean ± sample std (median) of a metric over seeds, in %."""
    return f"{100 * summary['mean']:.2f} ± {100 * summary['std']:.2f} ({100 * summary['median']:.2f})"


def _first(record: dict, *keys: str) -> str:
    for key in keys:
        value = record.get(key)
        if isinstance(value, dict):
            value = next(iter(value.values()), None)
        if isinstance(value, list):
            value = value[0] if value else None
        if value:
            return str(value)
    return ""


def headline(record: dict) -> str:
    """The figure a record is about: VaDE's ACC over seeds, a run's ACC, or how many datasets of a
    suite VaDE's median holds k-means on; empty where a record's figures need its own table."""
    if "methods" in record:
        return "; ".join(f"{method} ACC {_cell(entry['summary']['acc'])}"
                         for method, entry in record["methods"].items() if "acc" in entry.get("summary", {}))
    if isinstance(record.get("acc"), float):
        return f"ACC {100 * record['acc']:.2f}"
    summary = record.get("summary")
    rows = list(summary.values()) if isinstance(summary, dict) else []
    if rows and all(isinstance(row, dict) and "holds_kmeans" in row for row in rows):
        held = sum(row["holds_kmeans"] for row in rows)
        return f"median ACC at or above k-means on {held} of {len(rows)} datasets"
    return ""


def recorded_on(path: Path) -> str:
    """The day ``path`` was first committed, or an empty string outside a git checkout."""
    try:
        days = subprocess.run(["git", "log", "--follow", "--diff-filter=A", "--format=%ad", "--date=short",
                               "--", str(path)], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    except (OSError, subprocess.CalledProcessError):
        return ""
    return days.split()[-1] if days.split() else ""


def _escaped(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _what(record: dict) -> str:
    """A record's own description, to its first sentence."""
    what = _first(record, "benchmark", "what") or str(record.get("experiment", ""))
    return what.split(". ")[0].rstrip(".")


def index() -> str:
    """results/README.md: one row per record, by name."""
    lines = ["# Results", "",
             "Every measurement of this project, recorded once. Each row is a JSON record (command,",
             "commit, seeds, versions, wall time, per-epoch figures) with its Markdown table where it has",
             "one; `recorded` is the day git first holds it. This page is written by",
             "`python -m benchmarks.results_index`.", "",
             "| record | what | command | commit | recorded | headline | files |",
             "|---|---|---|---|---|---|---|"]
    for path in sorted(RESULTS.glob("*.json")):
        record = json.loads(path.read_text())
        files = [f"[{path.name}]({path.name})"]
        files += [f"[{extra.name}]({extra.name})" for extra in (path.with_suffix(".md"),) if extra.exists()]
        command = _first(record, "command", "commands", "command_template")
        lines.append("| " + " | ".join([
            path.stem, _escaped(_what(record)), f"`{_escaped(command)}`" if command else "",
            _first(record, "code_commit", "commit", "commit_after", "commit_of_rule"), recorded_on(path),
            _escaped(headline(record)), ", ".join(files)]) + " |")
    return "\n".join(lines) + "\n"


def _undated(text: str) -> list[str]:
    """The index's lines with the ``recorded`` column left out: git's dates depend on the clone."""
    return [" | ".join(cell for i, cell in enumerate(line.split(" | ")) if i != 4)
            if line.startswith("| ") else line for line in text.splitlines()]


def _readme_row(name: str, published: dict) -> str:
    """A README row: an experiment record's VaDE over its seeds beside VaDE's published ACC."""
    record = json.loads((RESULTS / f"{name}.json").read_text())
    summary = record["methods"]["vade"]["summary"]
    quoted = published["acc"][record["dataset"]]
    dataset = DATASET_TITLES[record["dataset"]]
    paper = f"{quoted['paper']:.2f}" if quoted["paper"] is not None else "not run"
    source = "the paper" if quoted["best_source"] == "paper" else quoted["best_source"]
    best = "none found" if quoted["best_published"] is None else f"{quoted['best_published']:.2f} ({source})"
    return (f"| {dataset}, {record['n_samples']:,} images, `{record['config']}`, "
            f"{summary['acc']['n']} seeds | {_cell(summary['acc'])} | {_cell(summary['nmi'])} | "
            f"{paper} | {best} |")


def readme_block() -> str:
    """README's results: vade-tf's headline experiments beside the paper and VaDE's best published
    ACC, and the sentence on the generality suite."""
    published = json.loads((RESULTS / f"{PUBLISHED}.json").read_text())
    suite = json.loads((RESULTS / f"{GENERALITY}.json").read_text())["summary"]
    sizes = [row["n_samples"] for row in suite.values()]
    seed_counts = {len(row["seeds"]) for row in suite.values()}
    held = sum(row["holds_kmeans"] for row in suite.values())
    both = sum(row["holds_kmeans"] and row["holds_start"] for row in suite.values())
    collapsed = sum(not row["no_collapse"] for row in suite.values())
    return "\n".join([
        BEGIN,
        "Clustering accuracy and NMI in %, vade-tf's as mean ± std (median) over seeds; the paper's",
        "Table 2, and the best VaDE ACC published where its source could be read",
        f"(`results/{PUBLISHED}.json`):", "",
        "| dataset | ACC | NMI | the paper's ACC | best published VaDE ACC |", "|---|---|---|---|---|",
        *(_readme_row(name, published) for name in HEADLINES), "",
        "The runs: " + ", ".join(f"`results/{name}.md`" for name in HEADLINES) + ".", "",
        f"On data nobody tuned it for, `VaDEClustering(n_clusters=K)` on X as given was run on {len(suite)}",
        f"labelled datasets ({min(sizes):,} to {max(sizes):,} samples; "
        f"{' or '.join(map(str, sorted(seed_counts)))} seeds each; `python -m benchmarks.bench_datasets`).",
        f"Its median ACC is at or above scikit-learn's `KMeans(K, n_init=10)` on the same features on {held}",
        f"of them, and at or above both k-means and its own starting partition on {both}",
        f"(`results/{GENERALITY}.md`).",
        "No run collapsed into one cluster." if not collapsed else
        f"Runs collapsed into one cluster on {collapsed} of them.",
        END])


def experiment_table(name: str) -> list[str]:
    """An experiment record's methods over its seeds beside the paper, as Markdown lines."""
    from vade_tf.registry import METHODS

    record = json.loads((RESULTS / f"{name}.json").read_text())
    methods = record["methods"]
    held_out = all("evaluation" in entry["summary"] for entry in methods.values())
    seeds = next(iter(methods.values()))["summary"]["acc"]["n"]
    dataset = DATASET_TITLES.get(record["dataset"], record["dataset"])
    lines = [f"{dataset}, {record['n_samples']:,} samples, {seeds} seed{'s' * (seeds > 1)}; "
             f"mean ± std (median) in % (`results/{name}.md`):", "",
             "| method | ACC | NMI |" + (" held-out ACC |" if held_out else "") + " paper ACC |",
             "|---|---|---|" + ("---|" if held_out else "") + "---|"]
    for method in sorted(methods, key=list(METHODS).index):  # the paper's Table 2 order
        entry = methods[method]
        summary, paper = entry["summary"], entry.get("paper_acc")
        lines.append(f"| {METHODS[method].title} | {_cell(summary['acc'])} | {_cell(summary['nmi'])} |"
                     + (f" {_cell(summary['evaluation']['acc'])} |" if held_out else "")
                     + (f" {paper:.2f} |" if paper is not None else " |"))
    return lines


def generality_table() -> list[str]:
    """The generality suite, a row per dataset: medians over its seeds."""
    suite = json.loads((RESULTS / f"{GENERALITY}.json").read_text())["summary"]
    lines = ["| dataset | N x D, K | k-means ACC | VaDE ACC (NMI) | at or above k-means and its start |",
             "|---|---|---|---|---|"]
    for name, row in suite.items():
        holds = "yes" if row["holds_kmeans"] and row["holds_start"] else "no"
        lines.append(f"| {name} | {row['n_samples']:,} x {row['n_features']:,}, {row['n_clusters']} | "
                     f"{100 * row['kmeans_acc']:.1f} | {100 * row['vade_acc']:.1f} ({row['vade_nmi']:.3f}) | "
                     f"{holds} |")
    return lines


def n_clusters_table() -> list[str]:
    """How often each label-free rule finds the number of classes K*, over the suite."""
    totals = json.loads((RESULTS / "bench-n-clusters.json").read_text())["summary"]["totals"]
    names = {"vade": "vade-tf's (`n_clusters=\"auto\"`)", "bic": "BIC of a full GaussianMixture",
             "dirichlet": "a Dirichlet-process GaussianMixture"}
    lines = ["| rule, on the same pretrained latent | K = K* | within one of K* |", "|---|---|---|"]
    for rule, total in totals.items():
        lines.append(f"| {names.get(rule, rule)} | {total['exact']} of {total['datasets']} | "
                     f"{total['within_one']} of {total['datasets']} |")
    return lines


def results_page() -> str:
    """docs/guide/results.md: the headline results, each table written from its record."""
    lines = ["# Results", "",
             "Every table on this page is written from a record in `results/` by",
             "`python -m benchmarks.results_index`; `results/README.md` lists every record with its command,",
             "commit and files. Scores against labels only report: no recipe was chosen by them.", "",
             "## The paper's Table 2, MNIST", "", *experiment_table("table2-10seeds"), "",
             "## The held-out protocol: train on MNIST's 60,000, score on its 10,000", "",
             "The convolutional model (`configs/mnist_conv.json`).", "",
             *experiment_table("mnist-conv-heldout"), "",
             "## Fashion-MNIST", "", *experiment_table("fashion-mnist-3seeds"), "",
             "## Data nobody tuned it for", "",
             "`VaDEClustering(n_clusters=K)` with its defaults, on X as given, against scikit-learn's",
             f"`KMeans(K, n_init=10)` on the same features; medians over seeds (`results/{GENERALITY}.md`,",
             "`python -m benchmarks.bench_datasets`).", "", *generality_table(), "",
             "## Choosing K", "",
             "`n_clusters=\"auto\"` against two label-free baselines on the same suite, median K over three",
             "seeds (`results/bench-n-clusters.md`, `python -m benchmarks.bench_n_clusters`).", "",
             *n_clusters_table()]
    return "\n".join(lines) + "\n"


def with_block(readme: str, block: str) -> str:
    """``readme`` with the text from BEGIN to END replaced by ``block``."""
    start, end = readme.index(BEGIN), readme.index(END) + len(END)
    return readme[:start] + block + readme[end:]


def differences() -> list[str]:
    """The files that differ from what the records write."""
    stale = []
    written = RESULTS / "README.md"
    if not written.exists() or _undated(written.read_text()) != _undated(index()):
        stale.append("results/README.md")
    if with_block(README.read_text(), readme_block()) != README.read_text():
        stale.append("README.md")
    if not RESULTS_PAGE.exists() or RESULTS_PAGE.read_text() != results_page():
        stale.append(str(RESULTS_PAGE.relative_to(ROOT)))
    return stale


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only say which files differ from the records")
    args = parser.parse_args(argv)
    if args.check:
        stale = differences()
        for name in stale:
            print(f"{name} differs from the records: run python -m benchmarks.results_index")
        return 1 if stale else 0
    (RESULTS / "README.md").write_text(index())
    README.write_text(with_block(README.read_text(), readme_block()))
    RESULTS_PAGE.write_text(results_page())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
