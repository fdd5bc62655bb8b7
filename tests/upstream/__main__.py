"""
Run the test cases that stable-baselines3, sb3-contrib and rl-zoo3 wrote for DQN (QR-DQN) with ARQ in its place
(tests/upstream/plugin.py), from the source archives of the installed versions, which pip fetches (their tests are not
part of this repository)::

    python -m tests.upstream [--work-dir DIR] [pytest arguments ...]

Exits with the first non-zero pytest exit code: a case that fails, an expected difference that passes, a listed case
that was not selected (4) or no case at all (5).
"""

import argparse
import os
import subprocess
import sys
import tarfile
import tempfile
from importlib.metadata import version
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]
# The test files of each distribution that hold cases for DQN (QR-DQN); the plugin selects those cases in them
SUITES = {
    "stable-baselines3": (
        "test_save_load.py",
        "test_run.py",
        "test_predict.py",
        "test_spaces.py",
        "test_callbacks.py",
        "test_deterministic.py",
        "test_train_eval_mode.py",
        "test_vec_envs.py",
        "test_logger.py",
    ),
    "sb3-contrib": ("test_save_load.py", "test_run.py", "test_deterministic.py", "test_train_eval_mode.py"),
    "rl-zoo3": ("test_train.py",),
}
# rl-zoo3's tests run ``python train.py`` in its repository's root, a script that its source archive does not ship:
# this one runs the installed rl_zoo3's entry point, as that script does.
ZOO_TRAIN_SCRIPT = 'from rl_zoo3.train import train\n\nif __name__ == "__main__":\n    train()\n'


def source_tree(distribution: str, work_dir: Path) -> Path:
    """
    The unpacked source archive of the installed version of ``distribution`` (fetched with pip unless already there).

    :param distribution: The distribution's name on PyPI.
    :param work_dir: Where archives are downloaded and unpacked.
    :return: The archive's root directory.
    """
    requirement = f"{distribution}=={version(distribution)}"
    archives = work_dir / requirement
    if not archives.is_dir():
        command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-binary", ":all:", "--no-deps", requirement]
        subprocess.run([*command, "--dest", str(archives)], check=True)
    (archive,) = archives.glob("*.tar.gz")
    with tarfile.open(archive) as tar:
        root = archives / tar.getnames()[0].split("/")[0]
        if not root.is_dir():
            tar.extractall(archives, filter="data")
    if not (root / "tests").is_dir():
        raise SystemExit(f"The source archive of {requirement} ({archive.name}) ships no tests/ folder")
    return root


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work-dir", type=Path, help="where to download and unpack (default: a temporary directory)")
    args, pytest_args = parser.parse_known_args()
    if args.work_dir is not None:
        return run_suites(args.work_dir, pytest_args)
    with tempfile.TemporaryDirectory(prefix="sb3_arq_upstream_") as work_dir:
        return run_suites(Path(work_dir), pytest_args)


def run_suites(work_dir: Path, pytest_args: list[str]) -> int:
    """
    Run every suite of ``SUITES``.

    :param work_dir: Where the source archives are downloaded and unpacked.
    :param pytest_args: Further arguments of each pytest run.
    :return: The first non-zero pytest exit code, else 0.
    """
    env = dict(os.environ, OMP_NUM_THREADS="1", MPLBACKEND="Agg")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPOSITORY), os.environ.get("PYTHONPATH")]))
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])  # rl-zoo3's `python`
    exit_codes = {}
    for distribution, files in SUITES.items():
        root = source_tree(distribution, work_dir)
        if distribution == "rl-zoo3" and not (root / "train.py").exists():
            (root / "train.py").write_text(ZOO_TRAIN_SCRIPT)
        print(f"=== {distribution} {version(distribution)}: {root}", flush=True)
        command = [sys.executable, "-m", "pytest", "-p", "tests.upstream.plugin", "--arq-suite", distribution]
        command += ["-p", "no:cacheprovider", "-rfEX", *(f"tests/{file}" for file in files), *pytest_args]
        exit_codes[distribution] = subprocess.run(command, cwd=root, env=env).returncode
    print("=== pytest exit codes:", exit_codes)
    return next((code for code in exit_codes.values() if code != 0), 0)


if __name__ == "__main__":
    sys.exit(main())
