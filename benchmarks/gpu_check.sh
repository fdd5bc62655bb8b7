#!/usr/bin/env bash
# GPU check of the fast paths (fused cell product, captured acting and updates, device buffer), for a fresh CUDA
# machine (H100/H200) without internet, in under 8 minutes:
#   bash benchmarks/gpu_check.sh [results folder]      (default: benchmarks/results/gpu-check)
# Needs torch (a CUDA build, which brings triton), stable-baselines3 and gymnasium; wheels of anything missing can be
# brought in the ignored folder .whl/ (installed offline first). MinAtar is optional: throughput.py then uses a
# stand-in env of Breakout's sizes. Writes into the results folder:
#   device.txt                            GPU, driver, torch/triton versions
#   cell-product-memory-cuda.{md,json}    Triton (float32, TF32) vs chunked at the published Breakout sizes, then
#                                         time and peak CUDA memory of one update's products per implementation
#   throughput-cuda-gpu-check.{md,json}   benchmarks/throughput.py for MinAtar Breakout: updates and acting (predict and
#                                         ActingGraph) beside SB3's DQN
#   graph-check-cuda.{md,json}            benchmarks/graph_check.py: the captured update against the eager one (agreement,
#                                         ms, peak CUDA memory), acting, and a 60-second training window with the fast
#                                         paths (device buffer, graph_acting, graph_update, cell_product auto) beside
#                                         the default ones
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-benchmarks/results/gpu-check}
mkdir -p "$OUT"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PIP_DISABLE_PIP_VERSION_CHECK=1
if compgen -G ".whl/*.whl" > /dev/null; then
    python -m pip install --quiet --no-index --find-links .whl/ .whl/*.whl
fi
{
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
    python -c "import torch, triton; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'triton', triton.__version__)"
} > "$OUT/device.txt" 2>&1
cat "$OUT/device.txt"
python -c "import torch, triton; assert torch.cuda.is_available(), 'no CUDA device'" || exit 1

status=0
timeout 150 python benchmarks/cell_product_memory.py --device cuda --threads 1 --rounds 2 --repeats 10 --out "$OUT" \
    || { echo "cell product check/benchmark failed (exit $?)"; status=1; }
timeout 150 python benchmarks/throughput.py --device cuda --threads 4 --configs "MinAtar Breakout" --tag gpu-check \
    && mv benchmarks/results/throughput-cuda-gpu-check.{md,json} "$OUT"/ \
    || { echo "throughput.py failed (exit $?)"; status=1; }
timeout 210 python benchmarks/graph_check.py --device cuda --threads 4 --seconds 60 --out "$OUT" \
    || { echo "graph_check.py failed (exit $?)"; status=1; }
ls -l "$OUT"
exit $status
