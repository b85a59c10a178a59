#!/usr/bin/env bash
# Record a real NVIDIA machine for the lab's GPU stand-in (tests/standins/gpu).
#
# Run it once on a Linux PC or server with a working NVIDIA driver and a CUDA build of torch in
# an env that also has nvidia-ml-py (a labtorch-provisioned env is exactly that):
#
#     bench/gpu_capture.sh PROFILE ENV_PYTHON
#     bench/gpu_capture.sh hopper-h200 /opt/miniforge3/envs/pytorch/bin/python
#
# It writes, under tests/standins/gpu/captures/PROFILE/:
#   nvidia-smi-table.txt, nvidia-smi-q.txt, nvidia-smi-L.txt, nvidia-smi-query-gpu.csv
#                   what the driver printed (the facts labtorch gathers);
#   plan.json       `labtorch plan --from nvidia-smi-q.txt --format json` (facts + planner);
#   verify.json     the verification script (roles/files/labtorch_verify.py) run with
#                   ENV_PYTHON against that plan, on the real GPU (no lab marker is read);
# and the recording tests/standins/gpu/recordings/PROFILE.json ("synthetic": false) that the
# stand-in replays. Commit all of it. Nothing is installed or changed on the machine; it takes
# seconds. It refuses (exit 1) when the env's torch sees no GPU: nothing would be worth keeping.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=${1:?usage: bench/gpu_capture.sh PROFILE ENV_PYTHON}
env_python=${2:?usage: bench/gpu_capture.sh PROFILE ENV_PYTHON}
case $profile in
  *[!a-z0-9-]*|"") echo "gpu_capture: PROFILE must be lowercase letters, digits and '-'" >&2; exit 2;;
esac
command -v nvidia-smi >/dev/null || { echo "gpu_capture: nvidia-smi not found: no NVIDIA driver here" >&2; exit 1; }
[ -x "$env_python" ] || { echo "gpu_capture: $env_python is not an executable Python" >&2; exit 2; }
labtorch=${LABTORCH:-labtorch}

out=tests/standins/gpu/captures/$profile
mkdir -p "$out"
nvidia-smi > "$out/nvidia-smi-table.txt"
nvidia-smi -q > "$out/nvidia-smi-q.txt"
nvidia-smi -L > "$out/nvidia-smi-L.txt"
nvidia-smi --query-gpu=index,name,compute_cap,driver_version,memory.total --format=csv \
  > "$out/nvidia-smi-query-gpu.csv"
"$labtorch" plan --from "$out/nvidia-smi-q.txt" --os linux --format json > "$out/plan.json"
"$env_python" roles/files/labtorch_verify.py --plan "$out/plan.json" --out "$out/verify.json" \
  --lab-marker /nonexistent/labtorch-lab.json > /dev/null
source="bench/gpu_capture.sh on $(hostname) $(date -u +%Y-%m-%dT%H:%M:%SZ): $out/verify.json"
python3 tests/standins/gpu/recordings.py --from-report "$out/verify.json" --profile "$profile" \
  --source "$source"
