"""sb3-arq's rl-zoo3 hyperparameter files, installed as the package data of ``sb3_arq.hyperparams``."""
