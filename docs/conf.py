"""Sphinx configuration of the sb3-arq documentation (MyST Markdown pages, API reference by autodoc)."""

import os
import sys

sys.path.insert(0, os.path.abspath(".."))  # document the checkout, installed or not

from sb3_arq.version import __version__

project = "sb3-arq"
author = "sb3-arq contributors"
copyright = "sb3-arq contributors"
version = release = __version__

extensions = ["myst_parser", "sphinx.ext.autodoc", "sphinx.ext.viewcode"]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]

# Markdown: `page.md#section-title` links resolve (the pages link into each other's sections, as on GitHub)
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_class_signature = "separated"

html_theme = "sphinx_rtd_theme"
html_title = f"sb3-arq {version}"
html_show_sourcelink = False


def escape_bars(app, what, name, obj, options, lines):
    """
    The docstrings are plain text for ``help()`` too and write absolute values and norms as |x| and ||x||, which reST
    would read as substitution references: outside inline literals (``...``), a bar in running text is made literal.
    (No docstring uses reST's line blocks or grid tables, the markup that starts with a bar.)
    """
    for i, line in enumerate(lines):
        if "|" not in line:
            continue
        parts = line.split("``")
        lines[i] = "``".join(part if k % 2 else part.replace("|", r"\|") for k, part in enumerate(parts))


def setup(app):
    app.connect("autodoc-process-docstring", escape_bars)
