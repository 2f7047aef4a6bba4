#!/usr/bin/env bash
# Checks tools/test-summary.sh on made-up reports: the counts, the skipped groups with their reasons
# and classes, the classes that ran no test, and the exit status. Run by .ci/run.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
reports="$dir/mod/target/surefire-reports"
mkdir -p "$reports"
cat >"$reports/TEST-a.BTest.xml" <<'XML'
<?xml version="1.0" encoding="UTF-8"?>
<testsuite name="a.BTest" time="1" tests="4" errors="0" skipped="3" failures="0">
  <testcase name="one" classname="a.BTest" time="0.1"/>
  <testcase name="two" classname="a.BTest" time="0.0">
    <skipped type="org.opentest4j.TestAbortedException"><![CDATA[org.opentest4j.TestAbortedException: Assumption failed: ../shared not found (/x/shared/models/m): skipping
	at org.junit.jupiter.api.Assumptions.throwAssumptionFailed(Assumptions.java:321)
]]></skipped>
  </testcase>
  <testcase name="three" classname="a.BTest" time="0.0">
    <skipped type="org.opentest4j.TestAbortedException"><![CDATA[org.opentest4j.TestAbortedException: Assumption failed: ../shared not found (/x/shared/data/d): skipping
]]></skipped>
  </testcase>
  <testcase name="four" classname="a.BTest" time="0.0">
    <skipped message="no GPU"/>
  </testcase>
</testsuite>
XML
cat >"$reports/TEST-a.CTest.xml" <<'XML'
<?xml version="1.0" encoding="UTF-8"?>
<testsuite name="a.CTest" time="0" tests="0" errors="0" skipped="0" failures="0">
</testsuite>
XML
expected="skipped: 1 tests, no GPU (BTest)
skipped: 2 tests, ../shared not found: skipping (BTest)
no test ran in 1 test classes (skipped whole, e.g. by a @BeforeAll assumption such as ../shared missing): CTest
tests: 1 passed, 0 failed, 3 skipped"
actual=$(bash "$here/test-summary.sh" "$dir" 2>/dev/null)
status=$?
if [ "$actual" != "$expected" ] || [ $status -ne 0 ]; then
  printf 'test-summary.sh printed (status %s):\n%s\nexpected:\n%s\n' "$status" "$actual" "$expected" >&2
  exit 1
fi
echo "test-summary.sh names the skipped groups."
