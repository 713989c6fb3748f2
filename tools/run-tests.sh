#!/usr/bin/env bash
# The test command of the README: installs what is missing, builds, runs every CTest suite.
# The `gui` suites run after the others, one at a time (some measure the GUI thread's stalls and the cost of
# the live views, which other suites on the same cores would disturb), on an X display: without one (CI), on
# a fresh Xvfb from xvfb-run, so that the screenshot test's PNGs come from a real X server. Arguments go to
# ctest (e.g. -L unit, -R test_store); with arguments, one ctest run does just that.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh
bash tools/build.sh
cd "${MOE_BUILD_DIR:-build}"
on_x=()
if [ -z "${DISPLAY:-}" ] && command -v xvfb-run >/dev/null 2>&1; then
  on_x=(xvfb-run -a -s "-screen 0 1920x1200x24")
fi
if [ $# -gt 0 ]; then
  exec "${on_x[@]}" ctest --output-on-failure "$@"
fi
status=0
ctest --output-on-failure -j "$(nproc)" -LE gui || status=$?
"${on_x[@]}" ctest --output-on-failure -L gui || status=$?
exit $status
