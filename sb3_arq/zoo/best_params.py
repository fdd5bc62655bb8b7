"""
Write the best trial of an ARQ hyperparameter search as an entry of ``hyperparams/arq.yml``:

    python -m sb3_arq.zoo.best_params --storage logs/arq_breakout.log --study-name arq-breakout -o best.yml
    python -m rl_zoo3.train --algo arq --env MinAtar/Breakout-v1 --conf-file best.yml

The entry is the one the trial ran with (``sb3_arq.zoo.sampler.trial_entry``, also what rl-zoo3's ``--trial-id``
reads): the config file's entry for the env, the search command's ``-params`` and the sampled values, policy kwargs
merged into one ``dict(...)`` string. ``-params`` here overrides entries once more (e.g. a longer ``n_timesteps``).
``--storage`` is the search's (a ``.log`` journal file or a database URL); ``--report`` reads the ``.pkl`` report
that rl-zoo3 writes at the end of a search instead (the only record of a search run without ``--storage``).
"""

import argparse
import pickle
import sys

import optuna
import yaml

from sb3_arq.zoo.exp_manager import open_storage
from sb3_arq.zoo.sampler import trial_entry, yaml_form


def load_study(storage: str | None, study_name: str | None, report: str | None = None) -> optuna.Study:
    """
    Load a study from an Optuna storage or from a pickled rl-zoo3 report.

    :param storage: ``--storage`` of the search (journal ``.log`` file or database URL), or None with ``report``.
    :param study_name: ``--study-name`` of the search (may be None if the storage holds a single study).
    :param report: Path of rl-zoo3's ``report_*.pkl``, or None.
    :return: The study.
    """
    if report is not None:
        with open(report, "rb") as file:
            study = pickle.load(file)
        if not isinstance(study, optuna.Study):
            raise ValueError(f"{report} does not hold an Optuna study (got {type(study).__name__})")
        return study
    if storage is None:
        raise ValueError("Pass --storage (and --study-name) of the search, or --report with rl-zoo3's report .pkl")
    optuna_storage = open_storage(storage)
    names = optuna.get_all_study_names(optuna_storage)
    if study_name is None and len(names) == 1:
        study_name = names[0]
    if study_name not in names:
        raise ValueError(f"No study named {study_name!r} in --storage {storage} (its studies: {names})")
    return optuna.load_study(study_name=study_name, storage=optuna_storage)


def select_trial(study: optuna.Study, trial_number: int | None = None) -> optuna.trial.FrozenTrial:
    """
    :param study: The study.
    :param trial_number: Trial number, or None for the best trial.
    :return: That trial.
    """
    if trial_number is None:
        if not study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
            raise ValueError(f"Study {study.study_name!r} has no completed trial yet ({len(study.trials)} trials in all)")
        return study.best_trial
    matching = [trial for trial in study.trials if trial.number == trial_number]
    if not matching:
        raise ValueError(f"Study {study.study_name!r} has no trial number {trial_number} ({len(study.trials)} trials)")
    return matching[0]


def main(argv: list[str] | None = None) -> str:
    """
    Command line: write the best (or ``--trial-id``) trial's hyperparameters as a yml entry.

    :param argv: Arguments (default: ``sys.argv[1:]``).
    :return: The yml text.
    """
    from rl_zoo3.utils import StoreDict

    parser = argparse.ArgumentParser(
        prog="python -m sb3_arq.zoo.best_params",
        description="Write an ARQ study's best hyperparameters in the form of hyperparams/arq.yml (for --conf-file).",
    )
    parser.add_argument("--storage", type=str, default=None, help="The search's --storage (.log journal file or URL)")
    parser.add_argument("--study-name", type=str, default=None, help="The search's --study-name")
    parser.add_argument("--report", type=str, default=None, help="rl-zoo3's report_*.pkl instead of --storage")
    parser.add_argument("--trial-id", type=int, default=None, help="This trial number instead of the best trial")
    parser.add_argument("--env", type=str, default=None, help="Env id of the entry (default: the one searched)")
    parser.add_argument(
        "-params", "--hyperparams", type=str, nargs="+", action=StoreDict, help="Override entries (e.g. n_timesteps:4e6)"
    )
    parser.add_argument("-o", "--output", type=str, default=None, help="Write the yml there (default: print it)")
    args = parser.parse_args(argv)

    try:
        study = load_study(args.storage, args.study_name, args.report)
        trial = select_trial(study, args.trial_id)
    except ValueError as error:
        raise SystemExit(f"best_params: error: {error}") from None
    env_id = args.env or trial.user_attrs.get("env_id")
    if env_id is None:
        raise SystemExit("best_params: error: the study does not record its env id: pass --env")
    entry = {**trial_entry(trial), **yaml_form(args.hyperparams or {})}

    header = (
        f"# Trial {trial.number} of study {study.study_name!r} (value {trial.value}, state {trial.state.name}),\n"
        f"# written by python -m sb3_arq.zoo.best_params. Use: python -m rl_zoo3.train --algo arq --env {env_id} "
        "--conf-file <this file>\n"
    )
    text = header + yaml.safe_dump({env_id: entry}, sort_keys=False, default_flow_style=False)
    if args.output is None:
        sys.stdout.write(text)
    else:
        with open(args.output, "w") as file:
            file.write(text)
        print(f"Wrote trial {trial.number}'s hyperparameters ({env_id}) to {args.output}")
    return text


if __name__ == "__main__":
    main()
