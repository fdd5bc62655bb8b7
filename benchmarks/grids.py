"""
The grids of ``benchmarks/learning.py``: {variants} x {tasks} x {seeds}, each a set of ordinary rl-zoo3 runs.

A grid is the base settings (``BASE``) with its own overrides, its variants (an algorithm with its ``-params``
overrides and its packaged hyperparameter file), blocks of {variants} x {tasks} (a block's ``seeds`` replaces the
grid's), optional per-task settings (``per_task``: a task's ``n_timesteps``, ``eval_freq`` and ``target`` return) and
the list of what differs from the published settings (printed in the report). A grid has one evaluation protocol for
all its discrete-action algorithms (``evaluation``: "paper", 10 episodes with epsilon 0.05 as in the paper, or
"greedy", rl-zoo3's deterministic evaluation); continuous-action algorithms (SAC) are evaluated greedily.
"""

from sb3_arq.envs import DMC_ENV_IDS, MINATAR_ENV_IDS

BREAKOUT, SPACE_INVADERS = "MinAtar/Breakout-v1", "MinAtar/SpaceInvaders-v1"


def variant(label: str, algo: str, conf: str | None = None, per_task: dict | None = None, **params) -> dict:
    """
    One algorithm with its settings: ``params`` are rl-zoo3 ``-params`` overrides (python values), ``conf`` a packaged
    hyperparameter file (None: rl-zoo3's, for ``arq`` sb3-arq's), ``per_task`` its own task settings (e.g. a budget).
    """
    return {"label": label, "algo": algo, "params": params, "conf": conf, "per_task": per_task or {}}


# The ARQ variants of the paper's ablation: the policy option each adds
ARQ_VARIANTS = {
    "arq": ("ARQ", {}),
    "arq-noac": ("ARQ without action conditioning", {"action_conditioning": "output"}),
    "ad": ("AD", {"cell_type": "ad"}),
    "arq-ms": ("ARQ-MS", {"goodness": "msq"}),
}
CPU_STEPS, CPU_LEARNING_STARTS = 30_000, 1_500  # 5% of the run, for both (published: ARQ 50k and DQN 5k of 4M)
# ARQ: widths [64, 64, 64] instead of [400, 200, 200], batch 32 instead of 512, buffer 100k instead of 5M; the rest as
# published (ARQ's defaults: a policy_kwargs override replaces the whole dict). DQN: hyperparams/dqn.yml with ARQ's
# learning start and its epsilon annealing ending at the same step: SB3 anneals from step 0, so the fraction is
# (learning_starts + 0.1 * n) / n = 0.15.
CPU_ARQ = {"learning_starts": CPU_LEARNING_STARTS, "batch_size": 32, "buffer_size": 100_000}
CPU_DQN = {"learning_starts": CPU_LEARNING_STARTS, "exploration_fraction": (CPU_LEARNING_STARTS + 0.1 * CPU_STEPS) / CPU_STEPS}


def cpu_variant(name: str) -> dict:
    """An ARQ variant at the reduced CPU settings."""
    label, options = ARQ_VARIANTS[name]
    return variant(label, "arq", **CPU_ARQ, policy_kwargs={"net_arch": [64, 64, 64], **options})


def paper_variant(name: str) -> dict:
    """An ARQ variant at the published settings (hyperparams/arq.yml), evaluated with epsilon 0.05."""
    label, options = ARQ_VARIANTS[name]
    policy = {"policy_kwargs": {"net_arch": [400, 200, 200], "n_heads": 8, **options}} if options else {}
    return variant(label, "arq", **policy)


# The head-to-head at CPU scale (issue #33): the five MinAtar games at 250,000 env steps, learning from step 5,000 (the
# MinAtar paper's replay start) and epsilon annealed until step 30,000 for both algorithms (ARQ: 10% of the run after
# learning starts, as published; SB3's DQN anneals from step 0, so its fraction is 30,000 / 250,000 = 0.12), each
# algorithm's own final epsilon (ARQ 0.01, DQN 0.1, as published).
MINATAR_STEPS, MINATAR_LEARNING_STARTS, MINATAR_EXPLORATION_END = 250_000, 5_000, 30_000
MINATAR_DQN = {
    "learning_starts": MINATAR_LEARNING_STARTS,
    "exploration_fraction": MINATAR_EXPLORATION_END / MINATAR_STEPS,
}
# ... and DeepMind Control tasks with one or two action dimensions (ARQ's bang-bang actions: 2 or 4), 100,000 env steps
DMC_TASKS = tuple(f"dm_control/{task}-v0" for task in ("cartpole-swingup", "finger-spin", "ball_in_cup-catch"))


# Every grid: these settings unless it says otherwise. Its runs are blocks of {variants} x {tasks} x {seeds} (a block's
# "seeds" replaces the grid's), run block by block, seed by seed (so a cut-short grid has whole seeds).
BASE = dict(n_timesteps=4_000_000, eval_freq=200_000, eval_episodes=10, seeds=[0, 1, 2, 3, 4], num_threads=-1, device="auto")
BASE["evaluation"], BASE["per_task"] = "paper", {}
# The classic-control first tries: ARQ's entries of hyperparams/arq.yml against rl-zoo3's own tuned DQN entries, at ARQ's
# budget of each task (rl-zoo3's DQN entries run 5e4, 1e5 and 1.2e5 steps); targets of the final greedy return
CLASSIC = {
    "CartPole-v1": {"n_timesteps": 50_000, "eval_freq": 10_000, "target": 475},
    "Acrobot-v1": {"n_timesteps": 60_000, "eval_freq": 10_000, "target": -100},
    "MountainCar-v0": {"n_timesteps": 120_000, "eval_freq": 20_000, "target": -130},
}
DQN_ZOO_BUDGETS = {  # rl-zoo3's own budgets of its DQN entries where ARQ's is smaller, for reference (MountainCar: 1.2e5)
    "Acrobot-v1": {"n_timesteps": 100_000, "eval_freq": 10_000},
}
# The smoke grids' ARQ: what reaches its first updates in a few hundred steps
SMOKE_ARQ = variant(
    "ARQ", "arq", learning_starts=200, batch_size=16, buffer_size=1000, context_size=2, policy_kwargs={"net_arch": [16, 16]}
)
GRIDS = {
    "cpu": {
        **BASE,
        "description": "ARQ vs DQN and the ARQ ablations on MinAtar Breakout at a CPU budget (one core, about an hour)",
        **dict(n_timesteps=CPU_STEPS, eval_freq=3_000, seeds=[0, 1, 2], num_threads=1, device="cpu", evaluation="greedy"),
        "variants": {
            "arq": cpu_variant("arq"),
            "dqn": variant("DQN", "dqn", conf="dqn", **CPU_DQN),
            **{name: cpu_variant(name) for name in ("arq-noac", "ad", "arq-ms")},
        },
        "blocks": [
            {"variants": ["arq", "dqn"], "tasks": [BREAKOUT]},
            {"variants": ["arq-noac", "ad", "arq-ms"], "tasks": [BREAKOUT], "seeds": [0, 1]},
        ],
        "reductions": [
            f"{CPU_STEPS:,} env steps per run instead of 4,000,000 (0.75% of the published budget); learning starts "
            f"after {CPU_LEARNING_STARTS:,} steps for both (published: ARQ 50,000, DQN 5,000).",
            "ARQ: widths [64, 64, 64] instead of [400, 200, 200], batch 32 instead of 512, replay buffer 100k instead "
            "of 5M (it holds the whole run either way); unchanged: 8 heads, context 10 with all connections, lr 1e-4 "
            "(Adam, beta2 0.99), grad norm 1.0 per cell, train every 4 steps, hard target copy every 1000 steps, "
            "gamma 0.99, epsilon 1.0 -> 0.01 over 10% of the run after learning starts (steps 1,500-4,500).",
            "DQN: the MinAtar paper's network and settings (hyperparams/dqn.yml: conv 16 + 128 units, batch 32, "
            "buffer 100k, centred RMSProp 2.5e-4, train every step, target copy every 1000 steps) with epsilon 1.0 -> "
            "0.1 ending at step 4,500 like ARQ's (exploration_fraction 0.15; published: over the first 100k steps).",
            "ARQ variants (ablations) on Breakout only, with the reduced ARQ settings above, 2 seeds (0, 1) instead of 3.",
            "Evaluation greedy (rl-zoo3's) for every variant, not the paper's epsilon 0.05.",
            "One process at a time, one torch thread (OMP_NUM_THREADS=1, --num-threads 1), on a 2-core machine shared "
            "with other work.",
        ],
    },
    "minatar": {
        **BASE,
        "description": "ARQ vs DQN on the five MinAtar games at a CPU budget (the paper's comparison, smaller)",
        **dict(n_timesteps=MINATAR_STEPS, eval_freq=25_000, num_threads=1, device="cpu", evaluation="greedy"),
        "variants": {"arq": variant("ARQ", "arq", conf="arq_cpu"), "dqn": variant("DQN", "dqn", conf="dqn", **MINATAR_DQN)},
        "blocks": [{"variants": ["arq", "dqn"], "tasks": list(MINATAR_ENV_IDS)}],
        "compare": ("arq", "dqn"),
        "reductions": [
            f"{MINATAR_STEPS:,} env steps per run instead of 4,000,000; learning starts after "
            f"{MINATAR_LEARNING_STARTS:,} steps and epsilon reaches its final value at step {MINATAR_EXPLORATION_END:,} "
            "for both algorithms (published: ARQ 50,000 and 10% of 4M after them, DQN 5,000 and 100,000).",
            "DQN: the MinAtar paper's network and settings (hyperparams/dqn.yml: conv 16 + 128 units, batch 32, "
            "buffer 100k, centred RMSProp 2.5e-4, train every step, target copy every 1000 steps, final epsilon 0.1) "
            "with exploration_fraction 0.12 (epsilon 1.0 -> 0.1 over steps 0-30,000).",
            "ARQ: its CPU entry (hyperparams/arq_cpu.yml, one for the five games; its comment says what differs from "
            "the published entry), found by a search on Breakout, seeds >= 1000 (benchmarks/search/minatar-cpu.md).",
            "Evaluation greedy (rl-zoo3's, deterministic; MinAtar's sticky actions keep episodes stochastic) on 10 "
            "episodes every 25,000 steps, for both algorithms; seeds 0-4.",
            "One torch thread per run (OMP_NUM_THREADS=1, --num-threads 1) on a 2-core machine shared with other work.",
        ],
    },
    "dmc": {
        **BASE,
        "description": "ARQ vs SAC on three DeepMind Control tasks with one or two action dimensions, at a CPU budget",
        **dict(n_timesteps=100_000, eval_freq=20_000, num_threads=1, device="cpu", evaluation="greedy"),
        "variants": {"arq": variant("ARQ", "arq", conf="arq_cpu"), "sac": variant("SAC", "sac", conf="sac")},
        "blocks": [{"variants": ["arq", "sac"], "tasks": list(DMC_TASKS)}],
        "compare": ("arq", "sac"),
        "reductions": [
            "Not the paper's tasks: cartpole-swingup (1 action dimension: ARQ's bang-bang actions are 2), finger-spin "
            "and ball_in_cup-catch (2 dimensions: 4 actions), state observations, 100,000 env steps per run "
            "instead of 4,000,000 (SAC's usual state-based benchmark budget).",
            "SAC: hyperparams/sac.yml (Haarnoja et al. 2018: [256, 256], Adam 3e-4, batch 256, one update per step, "
            "automatic entropy), learning from step 10,000.",
            "ARQ: its CPU entry (hyperparams/arq_cpu.yml, one for the three tasks; its comment says what differs from "
            "the published entry), found by a search on cartpole-swingup, seeds >= 1000 (benchmarks/search/dmc-cpu.md).",
            "Evaluation greedy (rl-zoo3's, deterministic) on 10 episodes of 1,000 steps every 20,000 steps; seeds 0-4.",
            "One torch thread per run (OMP_NUM_THREADS=1, --num-threads 1) on a 2-core machine shared with other work.",
        ],
    },
    "paper": {
        **BASE,
        "description": "The paper's comparison: ARQ vs DQN and QR-DQN on MinAtar, ARQ vs SAC on DeepMind Control",
        "variants": {
            "arq": paper_variant("arq"),
            "dqn": variant("DQN", "dqn", conf="dqn"),
            "qrdqn": variant("QR-DQN", "qrdqn", conf="qrdqn"),
            "sac": variant("SAC", "sac", conf="sac"),
        },
        "blocks": [
            {"variants": ["arq", "dqn", "qrdqn"], "tasks": list(MINATAR_ENV_IDS)},
            {"variants": ["arq", "sac"], "tasks": list(DMC_ENV_IDS)},
        ],
        "reductions": [
            "No reduction: the published settings of every algorithm (hyperparams/*.yml) at 4M env steps (SAC's yml "
            "says 1M; -n 4000000 overrides it), 5 seeds; evaluation every 200k steps (the paper: every 1M) on 10 "
            "episodes with epsilon 0.05 as in the paper (SAC: greedy, rl-zoo3's evaluation)."
        ],
    },
    "ablation": {
        **BASE,
        "description": "The paper's ablation figure: ARQ, ARQ without action conditioning, AD and ARQ-MS at the "
        "published MinAtar settings",
        "variants": {name: paper_variant(name) for name in ARQ_VARIANTS},
        "blocks": [{"variants": list(ARQ_VARIANTS), "tasks": [BREAKOUT, SPACE_INVADERS]}],
        "reductions": [
            "No reduction: the published MinAtar settings (hyperparams/arq.yml), 4M env steps, 5 seeds, "
            "evaluation with epsilon 0.05 as in the paper."
        ],
    },
    "classic": {
        **BASE,
        "description": "ARQ's classic-control first tries (hyperparams/arq.yml) against SB3 DQN with rl-zoo3's tuned "
        "entries, same budget, 10 seeds",
        **dict(eval_episodes=10, seeds=list(range(10)), num_threads=1, device="cpu", evaluation="greedy"),
        "per_task": CLASSIC,
        "variants": {
            "arq": variant("ARQ", "arq"),
            "dqn": variant("DQN (rl-zoo3's tuned entry)", "dqn"),
            "dqn-zoo-budget": variant("DQN at rl-zoo3's budget (1e5 steps)", "dqn", per_task=DQN_ZOO_BUDGETS),
        },
        "blocks": [
            {"variants": ["arq", "dqn", *(["dqn-zoo-budget"] if env_id in DQN_ZOO_BUDGETS else [])], "tasks": [env_id]}
            for env_id in CLASSIC
        ],
        "reductions": [
            "Not the paper's tasks: classic control at CPU budgets. ARQ runs its entry of hyperparams/arq.yml, DQN "
            "rl-zoo3's own tuned entry (rl_zoo3/hyperparams/dqn.yml), both for ARQ's budget of the task (rl-zoo3's DQN "
            "entries are tuned for 5e4, 1e5 and 1.2e5 steps: CartPole-v1, Acrobot-v1, MountainCar-v0); for reference, "
            "DQN also at those budgets (its row; the table's header gives ARQ's budget).",
            "Evaluation greedy (rl-zoo3's, deterministic) for both, 10 episodes: the first tries' targets are greedy "
            "returns. Seeds 0-9; the CartPole-v1 searches used seeds from 1000 up, the checks of the CartPole-v1 and "
            "Acrobot-v1 budgets seeds 2000-2003 (benchmarks/search/README.md); Acrobot-v1's and MountainCar-v0's "
            "entries were tuned by hand on seeds 0-3 and 0-1 (their comments in hyperparams/arq.yml).",
            "One torch thread per run (OMP_NUM_THREADS=1, --num-threads 1) on a 2-core machine; the runs of 2026-12-02 "
            "shared the cores (two at a time with learning_ray.py, or beside a search), so their times are under load.",
        ],
    },
    # Seconds per run: what benchmarks/test_learning_benchmark.py runs (sequentially and on Ray)
    "smoke": {
        **BASE,
        "description": "Tiny runs that check the pipeline (not a result)",
        **dict(n_timesteps=600, eval_freq=300, eval_episodes=2, seeds=[0, 1], num_threads=1, device="cpu"),
        "variants": {
            "arq": SMOKE_ARQ,
            "dqn": variant("DQN", "dqn", conf="dqn", learning_starts=200, buffer_size=1000),
        },
        "blocks": [{"variants": ["arq", "dqn"], "tasks": [BREAKOUT]}],
        "reductions": ["Everything: a pipeline check, not a result."],
    },
    # The same for ARQ vs SAC on one DeepMind Control task (its episodes last 1,000 steps: one per evaluation)
    "smoke-dmc": {
        **BASE,
        "description": "Tiny runs that check the pipeline of ARQ vs SAC on DeepMind Control (not a result)",
        **dict(n_timesteps=600, eval_freq=300, eval_episodes=1, seeds=[0], num_threads=1, device="cpu"),
        "variants": {
            "arq": SMOKE_ARQ,
            # SAC's own network ([256, 256]): SB3 adds use_sde to a given policy_kwargs, which args.yml then records, so
            # that a run with a policy_kwargs override never matches its command (find_attempts)
            "sac": variant("SAC", "sac", conf="sac", learning_starts=200, batch_size=16, buffer_size=1000),
        },
        "blocks": [{"variants": ["arq", "sac"], "tasks": ["dm_control/reacher-hard-v0"]}],
        "reductions": ["Everything: a pipeline check, not a result."],
    },
    # GPU packing: 8 ARQ runs at the published Breakout settings (learning from step 5,000), for
    # learning_ray.py --gpus-per-run 1, 0.25, 0.125 (1, 4, 8 runs on one GPU), which logs the aggregate env steps/s
    "packing": {
        **BASE,
        "description": "Aggregate throughput of ARQ runs packed on one GPU (published Breakout settings)",
        **dict(n_timesteps=30_000, eval_freq=30_000, eval_episodes=1, seeds=list(range(8)), num_threads=2),
        "variants": {"arq": variant("ARQ", "arq", learning_starts=5_000)},
        "blocks": [{"variants": ["arq"], "tasks": [BREAKOUT]}],
        "reductions": ["A throughput measurement: 30,000 env steps, learning from step 5,000, one evaluation episode."],
    },
}
