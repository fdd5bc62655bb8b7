"""Parts shared by the algorithm, the environments and the rl-zoo3 glue, importable without side effects."""
