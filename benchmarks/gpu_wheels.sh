#!/usr/bin/env bash
# The wheels that benchmarks/gpu_check.sh installs offline on a GPU machine without internet, downloaded here (with
# internet) into the ignored folder .whl/: what sb3-arq and the benchmarks import beyond a CUDA image's PyTorch, Triton,
# numpy, pandas, matplotlib, seaborn, scipy, cloudpickle and typing-extensions, at the versions installed here (the
# tested ones). All are pure-Python wheels, so they install on any Python 3 and platform.
#   bash benchmarks/gpu_wheels.sh      then take .whl/ along to the GPU machine and run bash benchmarks/gpu_check.sh there
set -euo pipefail
cd "$(dirname "$0")/.."
PACKAGES=(stable-baselines3 gymnasium farama-notifications minatar)
pins=$(python -c "import importlib.metadata as m, sys; print(' '.join(f'{n}=={m.version(n)}' for n in sys.argv[1:]))" \
    "${PACKAGES[@]}")
rm -rf .whl
python -m pip download --quiet --no-deps --only-binary=:all: --dest .whl $pins
for wheel in .whl/*.whl; do
    [[ $wheel == *-py3-none-any.whl || $wheel == *-py2.py3-none-any.whl ]] || { echo "not pure Python: $wheel"; exit 1; }
done
ls .whl
