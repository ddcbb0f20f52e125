"""Sphinx configuration for the sk_hier documentation.

Build (offline, warnings as errors) from the repository root::

    python -m sphinx -W --keep-going -b html docs docs/_build/html
"""

from __future__ import annotations

import os
import warnings

# The gallery runs in this process: keep every example on one core.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import torch

import sk_hier

torch.set_num_threads(1)
warnings.filterwarnings("ignore", message="Matplotlib is currently using agg")

# -- project -------------------------------------------------------------------------
project = "sk_hier"
author = "sk_hier developers"
copyright = "sk_hier developers"
release = sk_hier.__version__
version = ".".join(release.split(".")[:2])

# -- general -------------------------------------------------------------------------
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "sphinx.ext.mathjax",
]
templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "examples/README.txt"]
root_doc = "index"
default_role = "literal"

autosummary_generate = True
autodoc_typehints = "none"

numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True

# -- gallery -------------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": "examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "write_computation_times": False,
    "show_memory": False,
    "doc_module": ("sk_hier",),
    "backreferences_dir": "generated/backreferences",
    "reference_url": {"sk_hier": None},
}

# -- HTML ----------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"sk_hier {release}"
html_static_path: list = []
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
}
html_sidebars = {"index": [], "changelog": [], "getting_started": []}


def _skip_metadata_requests(app, what, name, obj, skip, options):
    """Hide scikit-learn's generated ``set_*_request`` methods (metadata routing) and
    the inherited ``set_output`` (its docstring links into scikit-learn's own docs)."""
    if name.startswith("set_") and name.endswith("_request"):
        return True
    if name == "set_output":
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_metadata_requests)
