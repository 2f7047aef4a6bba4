#!/usr/bin/env bash
# Runs the same training steps on the cpu and cuda backends and prints the max relative difference
# (max |cuda - cpu| / max |cpu|) per output: the tiny transformer of the graph module's tests in
# float32 and float64, six micro-steps, on CUDA once with one step per run and once with three steps
# per run (ONNX Loop). The work is the JUnit test CudaVsCpuTest (tag "cuda") in backend-bundles/cuda;
# it fails when a difference exceeds its bound (float32 1e-2, as TF32 GEMMs are allowed; float64 1e-9).
#
# Needs: an NVIDIA GPU with its driver, the CUDA 12 and cuDNN 9 libraries on the library path (the
# onnxruntime_gpu jar links libcudart.so.12, libcublas*.so.12, libcurand.so.10, libcufft.so.11 and
# libcudnn.so.9), JDK 17, Maven, and Maven Central for onnxruntime_gpu on the first run.
# Usage: tools/cuda-vs-cpu.sh (the test uses CUDA device 0; choose the GPU with CUDA_VISIBLE_DEVICES).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! nvidia-smi -L; then
  echo "No NVIDIA GPU is visible (nvidia-smi failed); this check needs one." >&2
  exit 2
fi
for lib in libcudart.so.12 libcublas.so.12 libcudnn.so.9; do
  found=$(ldconfig -p 2>/dev/null | grep -c "$lib" || true)
  ld_path=${LD_LIBRARY_PATH:-}
  for dir in ${ld_path//:/ }; do
    [ -e "$dir/$lib" ] && found=1
  done
  if [ "$found" = 0 ]; then
    echo "warning: $lib is neither known to ldconfig nor in LD_LIBRARY_PATH; the cuda backend will" \
      "probably report itself unavailable." >&2
  fi
done

# The GPU build of ONNX Runtime, and only the modules the test needs (the graph and cpu test jars).
mvn -B -Port-gpu -DskipTests -pl backend-bundles/cuda -am install

report=backend-bundles/cuda/target/surefire-reports/TEST-dev.graft.backend.cuda.CudaVsCpuTest.xml
rm -f "$report"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
mvn -B -Port-gpu -pl backend-bundles/cuda test -Dgroups=cuda | tee "$log" || status=$?

echo
echo "== cuda vs cpu: max relative difference per output =="
grep '^cuda (' "$log" || true
if [ ! -f "$report" ]; then
  echo "CudaVsCpuTest did not run (no $report)." >&2
  exit 1
fi
skipped=$(grep -m1 -o '<testsuite [^>]*>' "$report" | sed -n 's/.* skipped="\([0-9]*\)".*/\1/p')
if [ "${skipped:-0}" != 0 ]; then
  echo "CudaVsCpuTest was skipped: the cuda backend is unavailable. Its reason:" >&2
  grep -m1 -o 'Assumption failed: .*' "$report" >&2 || true
  exit 1
fi
if [ $status -ne 0 ]; then
  echo "A difference exceeded its bound, or the run failed; see the output above." >&2
fi
exit $status
