"""
``python -m sb3_arq.plots -f logs --algo arq [dqn ...] --env <id> [-o plots] [--tensorboard-log tb]``: PNG figures of
rl-zoo3 runs (evaluation curves, and each ARQ cell's loss and Q over training); see ``sb3_arq.zoo.plots``.
"""

from sb3_arq.zoo.plots import main

if __name__ == "__main__":
    main()
