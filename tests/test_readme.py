"""README's Python example runs as written, in a fresh process, and clusters the digits as it says."""
import json
import re
import shlex
import subprocess
import sys

from conftest import ROOT

# After the example: its clusters' scores against the true digits, on the last line.
SCORES = """
from vade_tf.metrics import clustering_scores
print(json.dumps(clustering_scores(y, model.labels_)))
"""


def test_the_readme_python_example_runs_as_written_and_clusters_the_digits(tmp_path):
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    assert len(blocks) == 1, "README has one Python example"
    result = subprocess.run([sys.executable, "-c", "import json\n" + blocks[0] + SCORES], cwd=tmp_path,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    printed, scores = result.stdout.strip().splitlines()[-2:]
    clusters, elbo = printed.rsplit(" ", 1)  # the first ten digits' clusters, then the mean ELBO
    assert len(json.loads(clusters.replace(" ", ","))) == 10 and float(elbo) < 0, printed
    assert json.loads(scores)["acc"] > 0.9, scores


def test_the_guide_shows_the_same_python_example():
    """The guide's Python example is README's, so the test above runs it too."""
    def examples(path):
        return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)
    assert examples(ROOT / "docs" / "guide" / "python.md") == examples(ROOT / "README.md")


def documented_commands() -> list[tuple[str, str, list[str]]]:
    """(page, command, its arguments) of every command line README and the guide show; a usage
    synopsis (``[--flag ...]``) is no command."""
    commands = {"python train.py": "train", "vade-train": "train", "python export.py": "export",
                "vade-export": "export", "python experiment.py": "experiment",
                "vade-experiment": "experiment", "vade-predict": "predict"}
    pages = [ROOT / "README.md", *sorted((ROOT / "docs" / "guide").glob("*.md"))]
    found = []
    for page in pages:
        for line in page.read_text().replace("\\\n", " ").splitlines():
            shown = line.strip()
            for start, command in commands.items():
                if line.startswith("    ") and shown.startswith(start + " ") and "[" not in shown:
                    found.append((page.name, command, shlex.split(shown[len(start):])))
    return found


def test_every_documented_command_parses_and_its_config_loads():
    """Each command README and the guide show is accepted by that command's own parser, and a
    training command's config, with its --set overrides, is a valid config."""
    from vade_tf.commands import experiment, export, predict, train

    parsers = {"train": train, "export": export, "experiment": experiment, "predict": predict}
    commands = documented_commands()
    assert len(commands) >= 8
    for page, command, argv in commands:
        args = parsers[command].parse_args(argv)
        if command == "train":
            train.config_of(args)  # raises ConfigError, naming the key, when the guide is wrong
