"""Meshes from config, sharding rules, and sharded == unsharded numerics."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jax.sharding import PartitionSpec as P

from p4d_jax.models import sizes as sizes_lib
from p4d_jax.models import synthesizer
from p4d_jax import tree_paths
from p4d_jax.parallel import mesh as mesh_lib
from p4d_jax.parallel import sharding
from p4d_jax.rendering import cameras
from p4d_jax.rendering import render_config


@pytest.mark.parametrize("shape, expected", [
    ({"data": -1}, (8, 1, 1)),
    ({"data": 4, "fsdp": 2}, (4, 2, 1)),
    ({"data": 2, "fsdp": 2, "model": 2}, (2, 2, 2)),
    ({"data": 2, "fsdp": -1}, (2, 4, 1)),
])
def test_mesh_shapes_from_config(shape, expected):
  mesh = mesh_lib.make_mesh(shape)
  assert tuple(mesh.shape[a] for a in mesh_lib.AXES) == expected


@pytest.mark.parametrize("shape, message", [
    ({"data": 3}, "needs 3 devices"),
    ({"data": -1, "fsdp": -1}, "at most one"),
    ({"data": -1, "fsdp": 3}, "do not divide"),
    ({"batch": 8}, "Unknown mesh axes"),
])
def test_bad_meshes_say_why(shape, message):
  with pytest.raises(ValueError, match=message):
    mesh_lib.make_mesh(shape)


def test_fsdp_shards_almost_every_paper_parameter():
  """The paper-size synthesizer on fsdp=4: every spec divides, and all but
  a sliver of the 223M parameters are split (biases of odd sizes stay)."""
  model = nnx.eval_shape(lambda: synthesizer.Synthesizer(
      sizes_lib.SynthesizerSizes.paper(), nnx.Rngs(0)))
  state = nnx.state(model, nnx.Param)
  mesh = mesh_lib.make_mesh({"data": 2, "fsdp": 4})
  shards = sharding.param_shardings(state, mesh)
  total = split = 0
  for x, s in zip(jax.tree.leaves(state), jax.tree.leaves(shards)):
    n = int(np.prod(x.shape))
    total += n
    if "fsdp" in s.spec:
      split += n
      dim = list(s.spec).index("fsdp")
      assert x.shape[dim] % 4 == 0
  assert split / total > 0.999


def test_parameter_paths_read_like_module_attributes():
  model = nnx.eval_shape(lambda: synthesizer.Synthesizer(
      sizes_lib.SynthesizerSizes.tiny(), nnx.Rngs(0)))
  names = []
  jax.tree_util.tree_map_with_path(
      lambda p, x: names.append(tree_paths.path_name(p)),
      nnx.state(model, nnx.Param))
  assert "encoder_canonical/trans_blocks_motion/0/attn1/q/kernel" in names
  assert "generator_triplane/convs1/0/kernel" in names


def test_rules_first_match_and_named_errors():
  mesh = mesh_lib.make_mesh({"data": 2, "fsdp": 2, "model": 2})
  rules = ((r"attn\d?/(q|kv)/kernel$", (None, "model")),
           (r"bias$", "replicate"), (".*", "fsdp"))
  spec = sharding.spec_for("encoder_canonical/trans_blocks_motion/0/attn1/q/"
                           "kernel", (1024, 1024), rules, mesh)
  assert spec == P(None, "model")
  assert sharding.spec_for("x/q/bias", (1024,), rules, mesh) == P()
  assert sharding.spec_for("x/fc1/kernel", (6, 1024), rules, mesh) == \
      P(None, "fsdp")
  with pytest.raises(ValueError, match="ranks differ"):
    sharding.spec_for("a/attn/q/kernel", (3, 4, 4), rules, mesh)
  with pytest.raises(ValueError, match="a/attn2/kv/kernel dim 7"):
    sharding.spec_for("a/attn2/kv/kernel", (4, 7), rules, mesh)


@pytest.fixture(scope="module")
def tiny_model():
  return synthesizer.Synthesizer(sizes_lib.SynthesizerSizes.tiny(),
                                 nnx.Rngs(0))


def _forward(graphdef, params, image, motion):
  model = nnx.merge(graphdef, params)
  c2w = cameras.look_at_pose(jnp.pi / 2 + jnp.linspace(-0.3, 0.3, 8),
                             jnp.pi / 2, 4.0, (0.0, 0.0, 0.09))
  intr = cameras.focal_intrinsics(jnp.full((8,), cameras.P4D_FOCAL))
  out = model(image, motion, motion, jnp.ones(8), c2w, intr, resolution=8,
              cfg=render_config.RenderConfig(num_coarse=6, num_fine=6),
              key=jax.random.key(0))
  return out["image"], out["planes"]


@pytest.mark.parametrize("shape", [
    pytest.param({"data": 8}, marks=pytest.mark.slow),
    pytest.param({"data": 4, "fsdp": 2}, marks=pytest.mark.slow),
    {"data": 2, "fsdp": 2, "model": 2}])   # every axis at once: the default
def test_sharded_forward_equals_unsharded(tiny_model, shape):
  graphdef, params = nnx.split(tiny_model, nnx.Param)
  d = sizes_lib.SynthesizerSizes.tiny().canonical.motion_dim
  image = jax.random.uniform(jax.random.key(1), (8, 32, 32, 3), minval=-1.0)
  motion = jax.random.normal(jax.random.key(2), (8, d))
  fwd = jax.jit(_forward, static_argnums=0)
  expected = fwd(graphdef, params, image, motion)
  mesh = mesh_lib.make_mesh(shape)
  rules = ((r"(q|kv)/kernel$", (None, "model")), (".*", "fsdp"))
  shards = sharding.param_shardings(params, mesh, rules)
  specs = [s.spec for s in jax.tree.leaves(shards)]
  assert any("fsdp" in s for s in specs) == (mesh.shape["fsdp"] > 1)
  if mesh.shape["model"] > 1:   # the rule really splits something
    assert any("model" in s for s in specs)
  params_sharded = jax.device_put(params, shards)
  batch = mesh_lib.batch_sharding(mesh)
  got = fwd(graphdef, params_sharded, jax.device_put(image, batch),
            jax.device_put(motion, batch))
  for a, b in zip(got, expected):
    np.testing.assert_allclose(a, b, atol=2e-5)


@pytest.mark.parametrize("task_name", ["psi3d", "psi4d"])
@pytest.mark.parametrize("shape", [{"fsdp": 8}, {"data": 2, "fsdp": 4},
                                   {"fsdp": 4, "model": 2},
                                   {"data": 2, "fsdp": 2, "model": 2}])
def test_paper_rules_give_the_whole_train_state_valid_specs(task_name, shape):
  """configs/<task>.py:paper's rules on 8 devices, from abstract shapes:
  every array of the state (params, EMA, Adam) gets a spec whose axes
  divide its dims, a model axis splits the transformers, and each device
  holds at most 1/fsdp of the state."""
  # pylint: disable=import-outside-toplevel
  import configs
  from p4d_jax.tasks import runs
  task = runs.task_kind(task_name).task(configs.preset(task_name, "paper"))
  state = jax.eval_shape(task.init_state, jax.random.key(0))
  mesh = mesh_lib.make_mesh(shape)
  shards = sharding.param_shardings(state, mesh, task.sharding_rules)
  total = per_device = 0
  axes_used = set()
  for x, s in zip(jax.tree.leaves(state), jax.tree.leaves(shards)):
    assert len(s.spec) <= len(x.shape)
    split = 1
    for dim, axis in zip(x.shape, s.spec):
      if axis is not None:
        assert dim % mesh.shape[axis] == 0, (x.shape, s.spec)
        split *= mesh.shape[axis]
        if mesh.shape[axis] > 1:
          axes_used.add(axis)
    nbytes = int(np.prod(x.shape)) * x.dtype.itemsize
    total += nbytes
    per_device += nbytes / split
  assert ("model" in axes_used) == (mesh.shape["model"] > 1)
  assert total > 4 * 4 * 200e6   # params, EMA, 2 Adam moments, float32
  # fsdp splits all but the vectors (about 1% per device); model also the
  # transformers' matrices, a good part of the paper network.
  share = per_device / (total / mesh.shape["fsdp"])
  assert share < (0.9 if mesh.shape["model"] > 1 else 1.02), share   # 1.011
