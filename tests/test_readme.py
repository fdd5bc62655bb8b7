"""
The README's code runs as written: every ```python block, and every ```bash block marked runnable by the line
``<!-- test: run -->`` right before it, each verbatim in a fresh subprocess in its own temporary directory (with the
repository's ``hyperparams/`` folder linked there, for commands that pass ``--conf-file hyperparams/...``).
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
README = REPO_ROOT / "README.md"
RUN_MARKER = "<!-- test: run -->"


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


BLOCKS = readme_blocks(README.read_text())


def test_readme_blocks_are_found():
    sample = "text\n```python\nprint(1)\n```\n<!-- test: run -->\n```bash\necho 2\n```\n```bash\necho no\n```\n"
    assert readme_blocks(sample) == [("python", 2, "print(1)\n"), ("bash", 6, "echo 2\n")]
    assert any(language == "python" for language, _, _ in BLOCKS)


@pytest.mark.slow  # the first example trains CartPole for minutes
@pytest.mark.parametrize(("language", "line", "code"), BLOCKS, ids=[f"README.md:{line}" for _, line, _ in BLOCKS])
def test_readme_block_runs(language, line, code, tmp_path):
    (tmp_path / "hyperparams").symlink_to(REPO_ROOT / "hyperparams")
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", MPLBACKEND="Agg")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    # bash: `python` must be this interpreter
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    command = [sys.executable, "-c", code] if language == "python" else ["bash", "-e", "-o", "pipefail", "-c", code]
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"README.md line {line} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
