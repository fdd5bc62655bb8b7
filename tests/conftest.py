import torch as th

# This machine (and CI) has 2 cores; torch's default thread count oversubscribes them. Tests run on one thread.
th.set_num_threads(1)
