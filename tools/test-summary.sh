#!/usr/bin/env bash
# Sums the JUnit XML reports of a build (Surefire's and bnd-testing's), names what was skipped and why,
# prints "tests: N passed, N failed, N skipped" last, and exits 1 when any test failed or when no test
# ran at all (the bnd tester can report zero tests and still pass: toolchain pitfall P2).
# Skipped groups: each reason with its count and test classes (e.g. "../shared not found", when the
# shared models and data are not beside the clone), and the classes that ran no test at all (an
# assumption in @BeforeAll, such as ../shared missing, skips a whole class and Surefire counts none).
set -euo pipefail
root="${1:-.}"
passed=0 failed=0 skipped=0 suites=0
empty=()
reports=()
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
  reports+=("$report")
  if [ "$t" -eq 0 ]; then
    name=$(echo "$head" | sed -n 's/.* name="\([^"]*\)".*/\1/p')
    empty+=("${name##*.}")
  fi
done < <(find "$root" \( -path '*/target/surefire-reports/TEST-*.xml' -o -path '*/target/test-reports/*/TEST-*.xml' \) -print0 | sort -z)

# One line per skip reason: "skipped: N tests, <reason> (Class, Class)". The reason is the skip message or
# the assumption's text, without parenthesised paths, so that one missing folder is one group.
if [ "$skipped" -gt 0 ]; then
  awk '
    /<testcase / {
      cls = $0; sub(/.* classname="/, "", cls); sub(/".*/, "", cls); n = split(cls, p, "."); cls = p[n]
    }
    /<skipped/ {
      why = ""
      if ($0 ~ /message="/) { why = $0; sub(/.*message="/, "", why); sub(/".*/, "", why) }
      else if ($0 ~ /CDATA\[/) { why = $0; sub(/.*CDATA\[/, "", why) }
      sub(/^[A-Za-z0-9_.$]*Exception: /, "", why); sub(/^Assumption failed: /, "", why)
      gsub(/ \([^)]*\)/, "", why); gsub(/&quot;/, "\"", why)
      if (why == "") why = "no reason given"
      count[why]++
      if (index(classes[why] ", ", cls ", ") == 0) classes[why] = classes[why] (classes[why] == "" ? "" : ", ") cls
    }
    END { for (w in count) printf "skipped: %d tests, %s (%s)\n", count[w], w, classes[w] }
  ' "${reports[@]}" | LC_ALL=C sort
fi
if [ "${#empty[@]}" -gt 0 ]; then
  echo "no test ran in ${#empty[@]} test classes (skipped whole, e.g. by a @BeforeAll assumption such as ../shared missing): $(IFS=,; echo "${empty[*]}" | sed 's/,/, /g')"
fi
echo "tests: $passed passed, $failed failed, $skipped skipped"
if [ "$suites" -eq 0 ] || [ "$passed" -eq 0 ]; then
  echo "No test ran: the build produced no passing test." >&2
  exit 1
fi
[ "$failed" -eq 0 ]
