"""
``python -m sb3_arq.record_video [rl-zoo3 arguments]``: rl-zoo3's ``record_video`` script with ARQ and the benchmark
environments registered first. It needs no import hook (works with ``SB3_ARQ_NO_ZOO_HOOK=1``); see ``sb3_arq.zoo``.
"""

from sb3_arq.zoo import record_video

if __name__ == "__main__":
    record_video()
