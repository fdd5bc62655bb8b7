"""
The trials of an ARQ search (``search.py``) as a markdown table: per trial its sampled values, the final greedy return
of each seed (``--seeds-per-trial``), its value (the worst seed's) and its wall time; then the best trial's yml entry,
which ``--yml`` also writes as a file for rl-zoo3's ``--conf-file``.

    python benchmarks/search/report.py --storage logs/search/cartpole-v1.log --study-name cartpole-v1 \
        -o benchmarks/search/cartpole-v1.md --yml best.yml
"""

import argparse
from pathlib import Path

import optuna
import yaml
from search import open_storage


def value_text(value) -> str:
    """A sampled value, short."""
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def has_completed_trial(study: optuna.Study) -> bool:
    """Whether a trial of the study has completed (a best trial exists)."""
    return any(trial.state == optuna.trial.TrialState.COMPLETE for trial in study.trials)


def report(study: optuna.Study) -> list[str]:
    """The markdown lines: the trials (best first, then unfinished ones) and the best trial's entry (if one completed)."""
    trials = sorted(study.trials, key=lambda trial: (trial.value is None, -(trial.value or 0.0), trial.number))
    names = list(dict.fromkeys(name for trial in trials for name in trial.params))
    lines = ["| trial | " + " | ".join(names) + " | final return per seed | value (worst) | minutes |"]
    lines.append("|---" * (len(names) + 4) + "|")
    for trial in trials:
        seeds = ", ".join(f"{value:.1f}" for value in trial.user_attrs.get("seed_returns", []))
        value = "-" if trial.value is None else f"{trial.value:.1f}"
        complete = trial.state == optuna.trial.TrialState.COMPLETE
        minutes = f"{trial.duration.total_seconds() / 60:.1f}" if complete else "-"  # a stopped trial's is unknown
        params = " | ".join(value_text(trial.params[name]) if name in trial.params else "-" for name in names)
        lines.append(f"| {trial.number} ({trial.state.name.lower()}) | {params} | {seeds or '-'} | {value} | {minutes} |")
    if not has_completed_trial(study):
        return [*lines, "", "No trial has completed yet."]  # a study in progress
    entry = yaml.safe_dump(best_entry(study), sort_keys=False).strip()
    return [*lines, "", f"Best trial: {study.best_trial.number}, as a yml entry:", "", "```yaml", entry, "```"]


def best_entry(study: optuna.Study) -> dict:
    """The best trial's yml entry (the one it ran with), under its env id."""
    return {study.best_trial.user_attrs["env_id"]: study.best_trial.user_attrs["hyperparams"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--storage", required=True, help="the search's --storage (journal .log file or database URL)")
    parser.add_argument("--study-name", required=True)
    parser.add_argument("-o", "--output", type=Path, required=True, help="markdown file to write")
    parser.add_argument("--yml", type=Path, default=None, help="write the best trial's entry there (for --conf-file)")
    args = parser.parse_args()
    study = optuna.load_study(study_name=args.study_name, storage=open_storage(args.storage))
    if args.yml is not None and not has_completed_trial(study):
        parser.error(f"--yml: no trial of {args.study_name!r} has completed, so there is no best entry to write")
    lines = [f"# Search `{args.study_name}`: {len(study.trials)} trials", "", *report(study), ""]
    args.output.write_text("\n".join(lines))
    print("\n".join(lines))
    if args.yml is not None:
        args.yml.write_text(yaml.safe_dump(best_entry(study), sort_keys=False))


if __name__ == "__main__":
    main()
