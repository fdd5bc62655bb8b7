"""
``python -m sb3_arq.train [rl-zoo3 arguments]``: rl-zoo3's ``train`` script with ARQ and the benchmark
environments registered first. It needs no import hook (works with ``SB3_ARQ_NO_ZOO_HOOK=1``); see ``sb3_arq.zoo``.
"""

from sb3_arq.zoo import train

if __name__ == "__main__":
    train()
