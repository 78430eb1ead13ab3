"""Sphinx configuration of vade-tf's documentation: the user guide (MyST Markdown), the API reference
(autodoc and autosummary from the numpydoc docstrings), the configuration reference (written from
``vade_tf/config.py`` by ``_ext/config_reference.py``) and the gallery (sphinx-gallery runs
``examples/plot_*.py`` and shows their figures).

Build it with ``python -m sphinx -W -b html docs docs/_build/html``; the test suite builds it the
same way, warnings as errors.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "_ext"))

import vade_tf  # noqa: E402

project = "vade-tf"
author = "the vade-tf developers"
release = version = vade_tf.__version__

extensions = [
    "myst_parser",
    "numpydoc",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",  # MathJax inside the site, so formulas render without a network
    "config_reference",
    "sphinx_gallery.gen_gallery",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py", "sg_execution_times.rst"]
myst_heading_anchors = 3
myst_enable_extensions = ["dollarmath"]

autosummary_generate = True
autodoc_typehints = "none"       # numpydoc's Parameters sections say the types
numpydoc_show_class_members = False
numpydoc_xref_param_type = False

html_theme = "pydata_sphinx_theme"
html_title = f"vade-tf {release}"
html_theme_options = {"navigation_depth": 2, "show_toc_level": 2}

# The gallery: examples/plot_*.py, run at every build, their figures on the pages.
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": "/plot_",
    "download_all_examples": False,
    "write_computation_times": False,
}
