"""The loop on 2 real processes (JAX's distributed runtime on CPU, 4 devices
each), joined by launch.main's `--multihost` flag: every global batch holds
both hosts' local batches, both hosts end with the same parameters, only
process 0 writes TensorBoard, each host's data position is checkpointed,
and a restart resumes both exactly."""

import os
import socket
import subprocess
import sys
import textwrap

from tests.train import toy_task

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))
STEPS = 6

CODE = textwrap.dedent("""
    import sys
    import jax
    import numpy as np
    from absl import app
    from launch import main
    from p4d_jax.train import loop
    from tests.train import toy_task

    def train_toy(config, workdir):   # in place of config.task's training
      del config
      cfg = loop.LoopConfig(total_steps=int(sys.argv[2]), log_every=2,
                            checkpoint_every={steps}, mesh=(("data", -1),))
      state = loop.run(toy_task.ToyTask(), cfg, workdir)
      print("RESULT", jax.process_index(), int(state["ids_seen"]),
            np.asarray(state["params"]["w"]).tolist(), flush=True)

    main.train = train_toy
    # As `python -m launch.main` runs: absl reads the flags, loading a config
    # file (which must leave JAX's backend alone), then main() joins the job.
    app.run(main.main, argv=[sys.argv[0], "--multihost", "--workdir",
                             sys.argv[1], "--config=configs/psi3d.py:tiny"])
""").format(steps=STEPS)


def run_two_processes(workdir, steps):
  """{process index: (ids_seen, final w)} and process 0's output."""
  with socket.socket() as s:   # a free port for the coordinator
    s.bind(("localhost", 0))
    port = s.getsockname()[1]
  procs = []
  for index in range(2):
    env = dict(os.environ, JAX_PLATFORMS="cpu",
               XLA_FLAGS="--xla_force_host_platform_device_count=4",
               JAX_CPU_COLLECTIVES_IMPLEMENTATION="gloo",
               JAX_COORDINATOR_ADDRESS=f"localhost:{port}",
               JAX_NUM_PROCESSES="2", JAX_PROCESS_ID=str(index))
    procs.append(subprocess.Popen(
        [sys.executable, "-c", CODE, workdir, str(steps)], cwd=ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
  outputs = []
  try:
    for proc in procs:
      outputs.append(proc.communicate(timeout=240)[0])
  finally:
    for proc in procs:   # a failed peer leaves the other one waiting
      proc.kill()
  results = {}
  for proc, out in zip(procs, outputs):
    assert proc.returncode == 0, out
    line = next(l for l in out.splitlines() if l.startswith("RESULT"))
    _, index, ids, w = line.split(" ", 3)
    results[int(index)] = (int(ids), w)
  return results, outputs[0]


def expected_ids_seen(steps):
  """The sum of the ids of both hosts' first `steps` local batches."""
  total = 0
  for index in range(2):
    it = iter(toy_task.batches(toy_task.ToyTask.batch_size, index, 2))
    total += sum(int(next(it)["id"].sum()) for _ in range(steps))
  return total


def test_two_processes_train_as_one_job(tmp_path):
  workdir = str(tmp_path)
  results, out = run_two_processes(workdir, STEPS)
  assert "process 0 of 2: 4 of 8 devices" in out
  assert "on mesh {'data': 8, 'fsdp': 1, 'model': 1}, 2 process(es)" in out
  assert results[0] == results[1]   # one job: the same parameters
  assert results[0][0] == expected_ids_seen(STEPS)
  events = os.listdir(os.path.join(workdir, "tensorboard"))
  assert len(events) == 1, events   # process 0 only
  data = os.path.join(workdir, "checkpoints", str(STEPS), "data")
  assert {"process_0-of-2.json", "process_1-of-2.json"} <= set(
      os.listdir(data))
  # A restart restores the sharded state and each host's data position.
  resumed, out = run_two_processes(workdir, STEPS + 2)
  assert f"restarted from {workdir}/checkpoints step {STEPS}" in out
  assert resumed[0] == resumed[1]
  assert resumed[0][0] == expected_ids_seen(STEPS + 2)
  assert resumed[0][1] != results[0][1]
  # One events file per run, both by process 0.
  assert len(os.listdir(os.path.join(workdir, "tensorboard"))) == 2
