#!/usr/bin/env bash
# The test command: sets up .venv if needed, then runs the default (fast) suite.
# Extra arguments go to pytest, e.g. `bash launch/test.sh -m slow` or `-k render`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh" test
if [ "$#" -eq 0 ]; then
  set -- -m "not slow"
fi
exec python -m pytest -q -p no:cacheprovider tests "$@"
