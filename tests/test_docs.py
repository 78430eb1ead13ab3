"""The documentation site: it builds with warnings as errors, and its configuration reference holds
every key of the config, each described, because it is written from the code."""
import dataclasses
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from documented import every_command

from vade_tf import registry
from vade_tf.config import Config

DOCS = Path(__file__).resolve().parent.parent / "docs"
sys.path.insert(0, str(DOCS / "_ext"))

from config_reference import rows  # noqa: E402


def config_sections() -> list[str]:
    """Every section the reference must show: the top level, each section of Config, and the own
    section of each architecture and dataset that has options."""
    sections = ["top"] + [f.name for f in dataclasses.fields(Config)
                          if f.default_factory is not dataclasses.MISSING]
    sections += [f"model.networks {name}" for name, entry in registry.ARCHITECTURES.items() if entry.options]
    sections += [f"data.options {name}" for name, entry in registry.DATASETS.items() if entry.options]
    return sections


def test_every_config_key_is_described_in_the_code():
    """Each key's row takes its text from the comment above it in the code: none may be empty."""
    undescribed = [key for section in config_sections() for key, _, _, what in rows(section) if not what]
    assert not undescribed, f"config keys without a comment in the code: {undescribed}"


def test_the_configuration_page_shows_every_section():
    page = (DOCS / "guide" / "configuration.md").read_text()
    shown = set(re.findall(r"```\{config-reference\} (.+)", page))
    assert shown == set(config_sections())


@pytest.fixture(scope="module")
def site() -> Path:
    """The site, built by README's command as written (warnings as errors), from a clean build folder
    (Sphinx repeats no warning of a page it does not rebuild)."""
    (command,) = [command for page, command in every_command() if command.startswith("python -m sphinx ")]
    out = DOCS.parent / shlex.split(command)[-1]
    shutil.rmtree(out.parent, ignore_errors=True)
    result = subprocess.run([sys.executable, *shlex.split(command)[1:]], cwd=DOCS.parent, capture_output=True,
                            text=True, timeout=1200)
    assert result.returncode == 0, result.stderr[-5000:]
    return out


def test_the_site_builds_with_every_config_key_and_the_api(site):
    reference = (site / "guide" / "configuration.html").read_text()
    literal = r'<code class="docutils literal notranslate"><span class="pre">([^<]+)</span></code>'
    shown = set(re.findall(literal, reference))
    missing = [key for section in config_sections() for key, *_ in rows(section) if key not in shown]
    assert not missing, f"config keys missing from the built reference: {missing}"
    api = (site / "generated" / "vade_tf.VaDEClustering.html").read_text()
    assert "n_clusters" in api and "random_state" in api


def test_the_formulas_render_from_the_site_itself(site):
    """MathJax is part of the built site, so the front page's formulas render without a network."""
    front = (site / "index.html").read_text()
    assert "_static/mathjax/tex-chtml.js" in front and "cdn" not in front.lower()
    assert (site / "_static" / "mathjax" / "tex-chtml.js").stat().st_size > 100_000
    assert front.count('class="math') >= 2


def test_the_gallery_runs_every_example_and_shows_its_figure(site):
    examples = sorted(path.stem for path in (DOCS.parent / "examples").glob("plot_*.py"))
    assert len(examples) >= 4
    for name in examples:
        page = (site / "auto_examples" / f"{name}.html").read_text()
        assert f"sphx_glr_{name}_001.png" in page, name
        assert (site / "_images" / f"sphx_glr_{name}_001.png").stat().st_size > 5000, name


def test_readme_and_the_results_index_are_written_from_the_records():
    """Each figure README quotes, and each row of results/README.md, is what the records say."""
    from benchmarks import results_index

    assert results_index.differences() == []


HISTORY = (r"\b(?=[0-9a-f]*[a-f])(?=[0-9a-f]*[0-9])[0-9a-f]{7,40}\b",  # a commit hash
           r"\b20\d\d-\d\d-\d\d\b",                                  # a date
           r"(?i)this (?:machine|CPU)|slow(?:er)? day|busy machine|before commit|when this was measured")


def test_the_readme_and_the_docs_keep_no_history():
    """README is at most 200 lines; neither it nor a page of the docs holds commit hashes, dates or
    remarks about a machine or a day: that history lives in results/ and in git."""
    readme = DOCS.parent / "README.md"
    assert len(readme.read_text().splitlines()) <= 200
    pages = [readme, *DOCS.glob("*.md"), *DOCS.glob("guide/*.md")]
    found = {str(page.relative_to(DOCS.parent)): hits for page in pages
             if (hits := [hit for pattern in HISTORY for hit in re.findall(pattern, page.read_text())])}
    assert len(pages) > 10 and not found


def public_api() -> list[str]:
    """The API reference's objects (docs/api.rst, relative to ``vade_tf``), and the estimator's own
    public methods."""
    from vade_tf.estimator import VaDEClustering

    listed = re.findall(r"^   ([A-Za-z_.]+)$", (DOCS / "api.rst").read_text(), re.MULTILINE)
    methods = [f"VaDEClustering.{name}" for name, value in vars(VaDEClustering).items()
               if not name.startswith("_") and callable(getattr(VaDEClustering, name))]
    return [f"vade_tf.{name}" for name in listed + methods]


def test_every_public_function_documents_its_parameters_and_returns():
    """numpydoc's own validation: a docstring, every parameter documented (and none that is not
    one), a Returns section where something is returned."""
    from numpydoc.validate import validate

    required = {"GL08", "PR01", "PR02", "RT01"}
    faults = {name: [message for code, message in validate(name)["errors"] if code in required]
              for name in public_api()}
    assert len(faults) > 15 and not {name: found for name, found in faults.items() if found}


def test_each_shipped_configs_notes_are_a_line_or_two():
    """A config's notes say what it is; the reasons behind its values are in the guide's recipe page."""
    import json

    notes = {path.name: json.loads(path.read_text()).get("notes", "")
             for path in (DOCS.parent / "configs").glob("*.json")}
    recipe = (DOCS / "guide" / "recipe.md").read_text()
    assert len(notes) >= 9 and all(0 < len(text) <= 200 for text in notes.values()), notes
    assert all(f"### `configs/{name}`" in recipe for name in notes)


def test_the_citation_file_names_this_version_and_readmes_paper():
    """CITATION.cff is the software's version, and its paper is the one README's BibTeX cites."""
    import yaml

    import vade_tf

    citation = yaml.safe_load((DOCS.parent / "CITATION.cff").read_text())
    assert citation["version"] == vade_tf.__version__
    (paper,) = citation["references"]
    assert f"doi       = {{{paper['doi']}}}" in (DOCS.parent / "README.md").read_text()
