#!/usr/bin/env bash
# The test command: sets up .venv if needed, then runs the default (fast) suite.
# Extra arguments go to pytest, e.g. `bash launch/test.sh -m slow`, `-k render`
# or `tests/evaluation/test_fid.py` (then only those files run). Slow tests
# stay out unless an -m marker expression is given. The whole suite runs in
# P4D_TEST_WORKERS pytest-xdist processes (default: the cores, at most 4),
# a file's tests in one process so that its fixtures are built once; named
# files run in one process.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh" test
marker=0 paths=0 prev=""
for arg in "$@"; do
  [[ "$arg" == -m* ]] && marker=1
  # A path, not the value of an option such as -k or -m.
  [[ "$arg" != -* && "$prev" != -[km] && -e "${arg%%::*}" ]] && paths=1
  prev="$arg"
done
[ "$marker" = 1 ] || set -- -m "not slow" "$@"
if [ "$paths" = 0 ]; then
  workers="${P4D_TEST_WORKERS:-$(( $(nproc) < 4 ? $(nproc) : 4 ))}"
  [ "$workers" -gt 1 ] && set -- -n "$workers" --dist loadfile "$@"
  set -- "$@" tests
fi
exec python -m pytest -q -p no:cacheprovider "$@"
