#!/usr/bin/env bash
# Trains on every host of a Cloud TPU pod slice: copies this checkout's
# tracked files to all TPU VM workers, sets up the venv there with JAX's TPU
# plugin, and runs `python -m launch.main --multihost ARGS...` on each (JAX
# finds the slice's hosts itself). Run it from your workstation:
#
#   TPU=my-v5p-64 ZONE=us-east5-a bash launch/tpu_pod.sh \
#       --config=configs/psi3d.py:paper --workdir=/mnt/p4d/runs/psi3d
#
# The workdir and the data directories in the config must be the same
# shared filesystem on every worker (e.g. Filestore NFS or a gcsfuse mount at
# one path): Orbax writes each host's shards of the state there, grain each
# host's data position, and a restart (the same command) reads them back.
# Env: TPU (the TPU VM name, required), ZONE and PROJECT (else gcloud's
# defaults), REMOTE_DIR (the checkout on the workers, default p4d_jax in the
# home directory), PYTHON and P4D_EXTRAS (passed to launch/env.sh there).
set -euo pipefail
: "${TPU:?set TPU to the TPU VM name}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REMOTE_DIR="${REMOTE_DIR:-p4d_jax}"
gcloud_args=(--worker=all)
[ -n "${ZONE:-}" ] && gcloud_args+=(--zone="$ZONE")
[ -n "${PROJECT:-}" ] && gcloud_args+=(--project="$PROJECT")

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
tarball="$tmp/p4d_src.tgz"
(cd "$ROOT" && git ls-files -z | tar --null -czf "$tarball" -T -)
echo "[tpu_pod] copying $(du -h "$tarball" | cut -f1) of sources to $TPU"
gcloud compute tpus tpu-vm scp "$tarball" "$TPU:p4d_src.tgz" "${gcloud_args[@]}"

# The same command on every worker; arguments are quoted for the remote shell.
env_vars="P4D_ACCEL=tpu"
for name in PYTHON P4D_EXTRAS; do
  [ -n "${!name:-}" ] && env_vars+=" $name=$(printf '%q' "${!name}")"
done
# From the checkout: `launch` and `configs` are imported from the working
# directory, and relative --config paths are read from there.
remote="mkdir -p $REMOTE_DIR && tar -xzf p4d_src.tgz -C $REMOTE_DIR && \
cd $REMOTE_DIR && $env_vars bash launch/run.sh python -m launch.main \
--multihost $(printf '%q ' "$@")"
echo "[tpu_pod] on every worker: $remote"
gcloud compute tpus tpu-vm ssh "$TPU" "${gcloud_args[@]}" \
    --command="$remote"
