"""README's Python example runs as written, in a fresh process, and clusters the digits as it says."""
import json
import re
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
