#!/usr/bin/env bash
# Creates or updates the project's virtual environment (.venv), idempotently.
# Sourced by launch/test.sh and launch/demo.sh. Reinstalls only when setup.py
# or the extras change. P4D_EXTRAS (default "test") picks the extras, e.g.
# P4D_EXTRAS=test,tf,face; P4D_VENV moves the environment; PYTHON picks the
# interpreter (Python >= 3.11); P4D_ACCEL=tpu|cuda12|cuda13 adds JAX's
# accelerator plugin at the installed jax's version (pods and clusters).
set -euo pipefail
P4D_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
P4D_EXTRAS="${P4D_EXTRAS:-test}"
P4D_VENV="${P4D_VENV:-$P4D_ROOT/.venv}"
PYTHON="${PYTHON:-python3}"
P4D_ACCEL="${P4D_ACCEL:-}"

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "p4d_jax needs Python >= 3.11; '$PYTHON' is $("$PYTHON" --version 2>&1)." >&2
  echo "Set PYTHON=/path/to/python3.11 and rerun." >&2
  exit 1
fi
if [ ! -x "$P4D_VENV/bin/python" ]; then
  echo "[p4d_jax] creating virtual environment in $P4D_VENV"
  "$PYTHON" -m venv "$P4D_VENV"
fi
stamp="$P4D_VENV/.p4d_install_stamp"
# The tests read LPIPS' released linear weights from the `lpips` wheel; its
# torch dependency is never needed, so it is installed without dependencies.
NO_DEPS="lpips==0.1.4"
want="$(sha256sum "$P4D_ROOT/setup.py" | cut -d' ' -f1) [$P4D_EXTRAS] $NO_DEPS${P4D_ACCEL:+ jax[$P4D_ACCEL]}"
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  echo "[p4d_jax] installing p4d_jax[$P4D_EXTRAS] into $P4D_VENV (first run: about a minute)"
  # (Some machines' pip configs name absent local indexes; hide that noise.)
  "$P4D_VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
      -e "$P4D_ROOT[$P4D_EXTRAS]" 2> >(grep -v "is ignored: it is neither" >&2)
  if [[ ",$P4D_EXTRAS," == *,test,* ]]; then
    "$P4D_VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        --no-deps $NO_DEPS 2> >(grep -v "is ignored: it is neither" >&2)
  fi
  if [ -n "$P4D_ACCEL" ]; then
    jax_version="$("$P4D_VENV/bin/python" -c \
        'import importlib.metadata as m; print(m.version("jax"))')"
    "$P4D_VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        "jax[$P4D_ACCEL]==$jax_version" 2> >(grep -v "is ignored: it is neither" >&2)
  fi
  echo "$want" > "$stamp"
fi
export PATH="$P4D_VENV/bin:$PATH"
# The allocator (p4d_jax/allocator.py; P4D_ALLOCATOR=mimalloc|system|off):
# XLA:CPU's big temporaries run ~2x slower on glibc's defaults.
eval "$(cd "$P4D_ROOT" && "$P4D_VENV/bin/python" -m p4d_jax.allocator)"
cd "$P4D_ROOT"
