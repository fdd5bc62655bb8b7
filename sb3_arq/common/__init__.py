"""Parts shared by the algorithm and the rl-zoo3 glue (argument checks, files, CUDA graphs), without side effects."""
