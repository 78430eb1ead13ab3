"""README's Python example and set-up commands run as written and do what README says (the example,
in a fresh process, clusters the digits; the main job installs and trains from an empty checkout),
and every documented command is one its program accepts."""
import json
import os
import re
import shlex
import shutil
import subprocess
import sys

import pytest
from conftest import ROOT
from documented import PAGES, every_command, inline_commands

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


PROGRAMS = {"python train.py": "train", "vade-train": "train", "python export.py": "export",
            "vade-export": "export", "python experiment.py": "experiment", "vade-experiment": "experiment",
            "vade-predict": "predict"}


def test_every_documented_command_parses_and_its_config_loads():
    """Each command README and the guide show is accepted by that command's own parser, and a
    training command's config, with its --set overrides, is a valid config: the commands of the
    pages' blocks (test_documented_commands.py runs them too) and those the prose shows inline, such
    as the table of the paper's datasets, whose data CI cannot download."""
    from vade_tf.commands import experiment, export, predict, train

    parsers = {"train": train, "export": export, "experiment": experiment, "predict": predict}
    shown = [command for _, command in every_command()]
    shown += [command for page in PAGES for command in inline_commands(page, PROGRAMS)]
    checked = 0
    for line in shown:
        for start, command in PROGRAMS.items():
            if line.startswith(start + " "):
                args = parsers[command].parse_args(shlex.split(line[len(start):]))
                # A value in capitals (``model.n_clusters=K``) is the reader's to fill in.
                if command == "train" and not re.search(r"=[A-Z]+\b", line):
                    train.config_of(args)  # raises ConfigError, naming the key, when the guide is wrong
                checked += 1
    assert checked >= 15


def set_up_commands() -> dict[str, str]:
    """README's two set-up commands by what they end in: the main job, the tests."""
    shown = [command for page, command in every_command() if page == "README.md"
             and command.startswith("python3 -m venv")]
    return {"main job": shown[0], "tests": shown[1]}


def test_the_guide_and_ci_run_readme_set_up_commands_verbatim():
    install = [command for page, command in every_command() if page == "install.md"]
    assert install == list(set_up_commands().values())
    assert set_up_commands()["tests"] in (ROOT / ".ci" / "run").read_text().splitlines()


@pytest.mark.slow
def test_the_main_job_and_the_docs_extra_install_from_an_empty_checkout(tmp_path):
    """README's main-job command, as written, in a copy of the checkout's files and nothing else:
    a new virtual environment, the package installed from the registry, the default run; then
    README's ``pip install -e ".[docs]"`` in that environment. (The test command is CI's own.)"""
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split("\0")
    for name in filter(None, files):
        if (ROOT / name).is_file():
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, tmp_path / name)
    docs_extra = next(command for page, command in every_command() if command.startswith("pip install -e"))
    script = f"{set_up_commands()['main job']} && {docs_extra} && python -c 'import sphinx, numpydoc'"
    env = {key: value for key, value in os.environ.items() if key not in ("VIRTUAL_ENV", "PYTHONPATH")}
    result = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=1800)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    final = [line for line in result.stdout.splitlines() if line.startswith("final: acc ")]
    assert len(final) == 1 and float(final[0].split()[2]) > 0.8, result.stdout[-2000:]
