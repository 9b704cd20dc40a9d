#!/usr/bin/env bash
# The test command: sets up .venv if needed, then runs the default (fast) suite.
# Extra arguments go to pytest, e.g. `bash launch/test.sh -m slow`, `-k render`
# or `tests/evaluation/test_fid.py` (then only those files run). Slow tests
# stay out unless an -m marker expression is given.
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
[ "$paths" = 1 ] || set -- "$@" tests
exec python -m pytest -q -p no:cacheprovider "$@"
