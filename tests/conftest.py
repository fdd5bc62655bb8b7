"""Settings of every test: one torch thread (this machine and CI have 2 cores, which torch's default oversubscribes)."""

import torch as th

th.set_num_threads(1)
