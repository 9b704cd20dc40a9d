#!/usr/bin/env bash
# Runs any command inside the project environment (set up on first use),
# e.g. `bash launch/run.sh python tools/bench_render.py`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
exec "$@"
