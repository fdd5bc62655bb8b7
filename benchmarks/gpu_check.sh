#!/usr/bin/env bash
# GPU check of the fast paths (fused cell product, captured acting and updates, device buffer), for a fresh CUDA
# machine (H100/H200) without internet, in under 8 minutes:
#   bash benchmarks/gpu_check.sh [results folder]      (default: benchmarks/results/gpu-check)
# Needs torch (a CUDA build, which brings triton), stable-baselines3 and gymnasium; `bash benchmarks/gpu_wheels.sh`
# (on a machine with internet) puts the wheels of what a CUDA image lacks into the ignored folder .whl/, which this
# script installs offline into /tmp/sb3-arq-site first. MinAtar is optional: throughput.py then uses a stand-in env of
# Breakout's sizes. The interpreter is $PYTHON (default python3: CUDA images often have no `python`). Writes into the
# results folder:
#   device.txt                            GPU, driver, torch/triton versions
#   cell-product-memory-cuda.{md,json}    Triton (float32, TF32) vs chunked at the published Breakout sizes, then
#                                         time and peak CUDA memory of one update's products per implementation
#   throughput-cuda-gpu-check.{md,json}   benchmarks/throughput.py for MinAtar Breakout: updates and acting (predict and
#                                         ActingGraph) beside SB3's DQN
#   graph-check-cuda.{md,json}            benchmarks/graph_check.py: the captured update against the eager one (agreement,
#                                         ms, peak CUDA memory), and a 60-second training window with the fast paths
#                                         (device buffer, graph_acting, graph_update, cell_product auto) beside the
#                                         default ones
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-benchmarks/results/gpu-check}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PIP_DISABLE_PIP_VERSION_CHECK=1
if compgen -G ".whl/*.whl" > /dev/null; then
    $PY -m pip install --quiet --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/sb3-arq-site \
        .whl/*.whl || exit 1
    export PYTHONPATH=$PYTHONPATH:/tmp/sb3-arq-site
fi
{
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
    $PY -c "import torch, triton; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'triton', triton.__version__)"
} > "$OUT/device.txt" 2>&1
cat "$OUT/device.txt"
$PY -c "import sb3_arq, triton, torch; assert torch.cuda.is_available(), 'no CUDA device'" \
    || { echo "needs CUDA, triton and sb3-arq's dependencies (bash benchmarks/gpu_wheels.sh, then bring .whl/)"; exit 1; }

status=0
timeout 150 $PY benchmarks/cell_product_memory.py --device cuda --threads 1 --rounds 2 --repeats 10 --out "$OUT" \
    || { echo "cell product check/benchmark failed (exit $?)"; status=1; }
timeout 150 $PY benchmarks/throughput.py --device cuda --threads 4 --configs breakout --tag gpu-check --out "$OUT" \
    || { echo "throughput.py failed (exit $?)"; status=1; }
timeout 210 $PY benchmarks/graph_check.py --device cuda --threads 4 --seconds 60 --out "$OUT" \
    || { echo "graph_check.py failed (exit $?)"; status=1; }
ls -l "$OUT"
exit $status
