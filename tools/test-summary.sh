#!/usr/bin/env bash
# Sums the JUnit XML reports of a build (Surefire's and bnd-testing's), prints
# "tests: N passed, N failed, N skipped" and exits 1 when any test failed or when no test ran at all
# (the bnd tester can report zero tests and still pass: toolchain pitfall P2).
set -euo pipefail
root="${1:-.}"
passed=0 failed=0 skipped=0 suites=0
while IFS= read -r -d '' report; do
  head=$(grep -m1 -o '<testsuite [^>]*>' "$report" || true)
  [ -n "$head" ] || continue
  attr() { echo "$head" | sed -n "s/.* $1=\"\([0-9]*\)\".*/\1/p"; }
  t=$(attr tests) f=$(attr failures) e=$(attr errors) s=$(attr skipped)
  t=${t:-0} f=${f:-0} e=${e:-0} s=${s:-0}
  suites=$((suites + 1))
  failed=$((failed + f + e))
  skipped=$((skipped + s))
  passed=$((passed + t - f - e - s))
  if [ "$t" -eq 0 ]; then
    echo "empty test suite: $report" >&2
  fi
done < <(find "$root" \( -path '*/target/surefire-reports/TEST-*.xml' -o -path '*/target/test-reports/*/TEST-*.xml' \) -print0)
echo "tests: $passed passed, $failed failed, $skipped skipped"
if [ "$suites" -eq 0 ] || [ "$passed" -eq 0 ]; then
  echo "No test ran: the build produced no passing test." >&2
  exit 1
fi
[ "$failed" -eq 0 ]
