#!/usr/bin/env bash
# The main job: sets up .venv if needed, then runs the demo.
# Extra arguments go to tools/demo.py (see `bash launch/demo.sh --help`).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
exec python tools/demo.py "$@"
