#!/usr/bin/env bash
# The GPU checks (run from the repository root on a CUDA machine whose python3 has torch,
# scikit-learn, scipy and pytest): the CUDA tests of the EEG kernel (exactness against sklearn, temporal
# generalisation), of PCA/SRP and of the one-triangle blocks
# and of the DNN core (distances, RDMCreator, tiled RDMs against scipy and the CPU), the EEG
# benchmark on CUDA (classic size on all 100 time points), a kernel profile, and the distance
# benchmark on CUDA. Logs and result fragments go to $OUT (default gpu_results/).
set -uo pipefail
OUT=${OUT:-gpu_results}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
python3 -c "import torch, sklearn, numpy; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'sklearn', sklearn.__version__, 'numpy', numpy.__version__, 'cpus', __import__('os').cpu_count())" | tee -a "$OUT/gpu.txt"
timeout "${TEST_LIMIT:-240}" python3 -m pytest -q -p no:cacheprovider tests/test_eeg_cuda.py tests/test_cuda.py \
    tests/test_eeg_generalization.py tests/test_reduction.py tests/test_distance_triangle.py -k "cuda or CUDA" \
    2>&1 | tee "$OUT/pytest_cuda.log"
timeout "${PROFILE_LIMIT:-60}" python3 benchmarks/profile_eeg.py --device cuda --shape 92,30,64,10 --rows 25 2>&1 \
    | grep -v USDT > "$OUT/profile_cuda.txt"
timeout "${BENCH_LIMIT:-300}" python3 benchmarks/bench_eeg.py --device cuda --c-times 100 --out "$OUT/eeg_cuda.md" 2>&1 \
    | tee "$OUT/bench_cuda.log"
timeout "${DIST_LIMIT:-120}" python3 benchmarks/bench_distances.py --device cuda --n 10000 --d 20000 --no-scipy \
    --out "$OUT/distances_cuda.md" 2>&1 | tee "$OUT/bench_distances_cuda.log"
