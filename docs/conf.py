"""Sphinx configuration of the sb3-arq documentation (MyST Markdown pages, API reference by autodoc)."""

import os
import re
import sys
from pathlib import Path

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
# The types go into each documented parameter's entry ("name (type) - text"), once: the class signature is mixed
# into the class (no separate __init__ entry with a second, types-only parameter list), and a parameter without a
# docstring entry gets none.
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented_params"
autodoc_class_signature = "mixed"

# Nitpicky builds (-n, as CI builds): every cross-reference must resolve, except to the libraries the signatures name
# (torch, numpy, gymnasium, SB3, the standard library: no intersphinx, so the build needs no network) and to type
# variables and the names SB3's inherited docstrings use.
nitpick_ignore_regex = [
    (r"py:.*", r"(torch|numpy|gymnasium|stable_baselines3|collections\.abc|pathlib|io)(\..+)?"),
    (r"py:class", r"sb3_arq\..*\.Self\w+|sb3_arq\.common\.cuda_graph\.Output"),  # TypeVars
    (r"py:(class|meth|attr)", r"VecEnv|step|reset|env"),  # in SB3's docstrings of the inherited members
]

html_theme = "sphinx_rtd_theme"
html_title = f"sb3-arq {version}"
html_show_sourcelink = False
# Wide code blocks and tables wrap at a narrow window instead of hiding their right part behind a scroll bar
html_static_path = ["_static"]
html_css_files = ["wrap.css"]


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


DOCS = Path(__file__).resolve().parent
# A docstring's citation of a page, with up to two of its numbered sections: docs/algorithm.md, "4. Learning rule"
# (and "6. Variants"); titles may wrap over lines
CITATION = re.compile(r'docs/(?P<page>[\w/]+)\.md(?:,\s+"(?P<first>\d+\.[^"]+)"(?:\s+and\s+"(?P<second>\d+\.[^"]+)")?)?')


def heading_anchor(title: str) -> str:
    """The anchor MyST gives a heading (myst_heading_anchors, GitHub's slugs): "4. Learning rule" -> 4-learning-rule."""
    return re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")


def link_citations(app, what, name, obj, options, lines):
    """
    The docstrings cite the pages as plain text (``docs/algorithm.md, "4. Learning rule"``), readable in ``help()``; in
    these pages each citation (outside inline literals) becomes a link to the page and section. A cited page or
    section that does not exist is a warning (an error in CI's build).
    """
    from sphinx.util import logging

    logger = logging.getLogger(__name__)
    parts = "\n".join(lines).split("``")

    def link(match):
        page = match["page"]
        path = DOCS / f"{page}.md"
        if not path.exists():
            logger.warning(f"{name}: the docstring cites docs/{page}.md, which does not exist")
            return match[0]
        uri = app.builder.get_relative_uri(app.env.docname, page)
        headings = {line.lstrip("#").strip() for line in path.read_text().splitlines() if line.startswith("#")}

        def section(title):
            title = " ".join(title.split())  # a title wrapped over lines
            if title not in headings:
                logger.warning(f'{name}: the docstring cites docs/{page}.md, "{title}", which is no heading there')
            return f"{uri}#{heading_anchor(title)}"

        if match["first"] is None:
            return f"`docs/{page}.md <{uri}>`__"
        text = f'`docs/{page}.md, "{match["first"]}" <{section(match["first"])}>`__'
        if match["second"] is not None:
            text += f' and `"{match["second"]}" <{section(match["second"])}>`__'
        return text

    text = "``".join(part if k % 2 else CITATION.sub(link, part) for k, part in enumerate(parts))
    lines[:] = text.split("\n")


def init_typehints(app, what, name, obj, options, signature, return_annotation):
    """
    A class's parameter types from its ``__init__``: Sphinx reads them through the class's annotations, where an
    attribute of a parameter's name wins (ARQ's ``policy``: ``str | type[ARQPolicy]``, the attribute: ``ARQPolicy``).
    Runs after autodoc's own recording (priority 501), over which it writes.
    """
    from sphinx.ext.autodoc.typehints import record_typehints

    if what == "class" and app.config.autodoc_typehints == "description" and "__init__" in vars(obj):
        record_typehints(app, what, name, obj.__init__, options, signature, return_annotation)


def setup(app):
    app.connect("autodoc-process-signature", init_typehints, priority=501)
    app.connect("autodoc-process-docstring", escape_bars)
    app.connect("autodoc-process-docstring", link_citations)
