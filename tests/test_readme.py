"""
The code of the README and of the documentation pages (docs/, Sphinx with MyST Markdown) runs as written.

- README.md: every ```python block, and every ```bash block marked runnable by the line ``<!-- test: run -->`` right
  before it.
- docs/**/*.md: every ```python and ```bash block (also written as ```{code-block} python or bash), unless it is a
  ``code-block`` whose caption starts with "Not run by the tests:" and gives the reason, which the page then shows
  above the code. ```yaml blocks are parsed, and every ``sb3_arq.`` class they name must import and accept the
  keyword arguments given to it. Blocks without a language (or ```text) are notation, not code; any other kind of
  block fails ``test_docs_blocks_are_classified``.

Each runnable block runs verbatim in a fresh subprocess in its own temporary directory (with the repository's
``hyperparams/`` and ``benchmarks/`` folders linked there, for commands that name them), once even where the same code
appears in several places (the first example is in the README and in the docs).
"""

import importlib
import inspect
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import NamedTuple

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
README = REPO_ROOT / "README.md"
DOCS = REPO_ROOT / "docs"
RUN_MARKER = "<!-- test: run -->"
NOT_RUN = "Not run by the tests:"
RUNNABLE = ("python", "bash")
NOTATION = ("", "text")
# A fenced block, also indented (in a list item), with its info string (the language, or a MyST directive)
FENCE = re.compile(
    r"^(?P<indent>[ ]*)(?P<fence>`{3,})(?P<info>[^`\n]*)\n(?P<body>.*?)^(?P=indent)(?P=fence)[ \t]*$", re.MULTILINE | re.DOTALL
)


def readme_blocks(text: str) -> list[tuple[str, int, str]]:
    """
    :param text: Markdown.
    :return: (language, line number of the opening fence, code) of every ```python block and of every ```bash block
        whose opening fence directly follows the line ``<!-- test: run -->``.
    """
    blocks = []
    for match in re.finditer(r"^```(\w+)\n(.*?)^```$", text, flags=re.MULTILINE | re.DOTALL):
        language, code = match.groups()
        line = text.count("\n", 0, match.start()) + 1
        previous_line = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        if language == "python" or (language == "bash" and previous_line.strip() == RUN_MARKER):
            blocks.append((language, line, code))
    return blocks


class DocBlock(NamedTuple):
    language: str  # "python", "bash", "yaml", "" (notation), ...
    line: int  # of the opening fence
    code: str  # dedented, without the directive's options
    not_run: str | None  # the reason, for a block marked not run


def docs_blocks(text: str) -> list[DocBlock]:
    """
    :param text: a MyST Markdown page.
    :return: every fenced code block of the page (plain fences and ``code-block`` directives; other directives such as
        toctree, include or eval-rst are not code blocks).
    """
    blocks = []
    for match in FENCE.finditer(text):
        info, body = match["info"].strip(), textwrap.dedent(match["body"])
        line = text.count("\n", 0, match.start()) + 1
        not_run = None
        if info.startswith("{"):
            directive, _, argument = info.partition("}")
            if directive not in ("{code-block", "{code"):
                continue
            info = argument.strip()
            options, _, code = re.match(r"((?::[^\n]*\n)*)(\n?)(.*)", body, flags=re.S).groups()
            for option in options.splitlines():
                name, _, value = option[1:].partition(":")
                if name == "caption" and value.strip().startswith(NOT_RUN):
                    not_run = value.strip()[len(NOT_RUN) :].strip()
            body = code
        blocks.append(DocBlock(info, line, body, not_run))
    return blocks


def docs_pages() -> list[Path]:
    return sorted(path for path in DOCS.rglob("*.md") if "_build" not in path.relative_to(DOCS).parts)


def collect_runnable() -> list[tuple[str, str, str]]:
    """(where, language, code) of every block to run, each distinct code once (at its first place)."""
    seen, runnable = set(), []
    places = [("README.md", language, line, code) for language, line, code in readme_blocks(README.read_text())]
    for page in docs_pages():
        name = page.relative_to(REPO_ROOT).as_posix()
        blocks = docs_blocks(page.read_text())
        places += [(name, b.language, b.line, b.code) for b in blocks if b.language in RUNNABLE and b.not_run is None]
    for name, language, line, code in places:
        key = (language, code.strip())
        if key not in seen:
            seen.add(key)
            runnable.append((f"{name}:{line}", language, code))
    return runnable


BLOCKS = collect_runnable()


def test_readme_blocks_are_found():
    sample = "text\n```python\nprint(1)\n```\n<!-- test: run -->\n```bash\necho 2\n```\n```bash\necho no\n```\n"
    assert readme_blocks(sample) == [("python", 2, "print(1)\n"), ("bash", 6, "echo 2\n")]
    assert any(where.startswith("README.md:") for where, _, _ in BLOCKS)


def test_docs_blocks_are_found():
    sample = (
        "# Page\n\n```python\nprint(1)\n```\n\n- item\n\n"
        "   ```{code-block} bash\n   :caption: Not run by the tests: a GPU\n\n   echo gpu\n   ```\n\n"
        "```{toctree}\nindex\n```\n\n```\nQ = g(y)\n```\n\n````{code-block} yaml\n:caption: c\na: 1\n````\n"
    )
    assert docs_blocks(sample) == [
        DocBlock("python", 3, "print(1)\n", None),
        DocBlock("bash", 9, "echo gpu\n", "a GPU"),
        DocBlock("", 19, "Q = g(y)\n", None),
        DocBlock("yaml", 23, "a: 1\n", None),
    ]


def test_docs_blocks_are_classified():
    """Every code block of the pages runs, is parsed (yaml), is notation, or says why it is not run."""
    counts = {"run": 0, "not run": 0}
    problems = []
    for page in docs_pages():
        for block in docs_blocks(page.read_text()):
            where = f"{page.relative_to(REPO_ROOT)}:{block.line}"
            if block.not_run is not None:
                counts["not run"] += 1
                if len(block.not_run) < 10:
                    problems.append(f"{where}: marked not run without a reason")
            elif block.language in RUNNABLE:
                counts["run"] += 1
            elif block.language not in (*NOTATION, "yaml"):
                problems.append(f"{where}: a ```{block.language} block is neither run, nor yaml, nor marked not run")
    assert not problems, "\n".join(problems)
    assert counts["run"] > 0 and counts["not run"] > 0, counts


def sb3_arq_classes(node):
    """Yield (dotted path, kwargs or None) for every ``sb3_arq.`` path in a parsed yaml document."""
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(key, str) and key.startswith("sb3_arq."):
                yield key, value if isinstance(value, dict) else None
            yield from sb3_arq_classes(value)
    elif isinstance(node, list):
        for item in node:
            yield from sb3_arq_classes(item)
    elif isinstance(node, str) and node.startswith("sb3_arq."):
        yield node, None


def test_docs_yaml_blocks_parse_and_name_real_classes():
    checked = 0
    for page in [README, *docs_pages()]:
        blocks = [b for b in docs_blocks(page.read_text()) if b.language == "yaml"]
        for block in blocks:
            where = f"{page.relative_to(REPO_ROOT)}:{block.line}"
            document = yaml.safe_load(block.code)
            for path, kwargs in sb3_arq_classes(document):
                module, _, name = path.rpartition(".")
                target = getattr(importlib.import_module(module), name)
                if kwargs:
                    inspect.signature(target).bind_partial(**kwargs)  # raises TypeError on an unknown argument
                checked += 1
            assert document is not None, where
    assert checked > 0


@pytest.mark.slow  # the first example trains CartPole for minutes
@pytest.mark.parametrize(("where", "language", "code"), BLOCKS, ids=[where for where, _, _ in BLOCKS])
def test_readme_block_runs(where, language, code, tmp_path):
    for folder in ("hyperparams", "benchmarks"):
        (tmp_path / folder).symlink_to(REPO_ROOT / folder)
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", MPLBACKEND="Agg")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    # bash: `python` must be this interpreter
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    command = [sys.executable, "-c", code] if language == "python" else ["bash", "-e", "-o", "pipefail", "-c", code]
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"{where} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
