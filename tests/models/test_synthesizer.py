"""The synthesizer end to end at tiny size; the paper size against the release."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from p4d_jax.models import canonical
from p4d_jax.models import sizes as sizes_lib
from p4d_jax.models import synthesizer
from p4d_jax.rendering import cameras
from p4d_jax.rendering import render_config
from tests.models import released

PARTS = ("encoder_global", "encoder_detail", "encoder_canonical",
         "generator_triplane", "background", "decoder", "superresolution")


@released.needs_keys
def test_paper_size_equals_the_released_generator():
  expected = {p: released.count(p) for p in PARTS}
  # Noise-free SR leaves out the released noise_strength scalars.
  unused = released.noise_scalars("superresolution")
  expected["superresolution"] -= unused
  model = nnx.eval_shape(lambda: synthesizer.Synthesizer(
      sizes_lib.SynthesizerSizes.paper(), nnx.Rngs(0)))
  ours = {p: canonical.parameter_count(getattr(model, p)) for p in PARTS}
  assert ours == expected
  assert unused == 4
  assert sum(ours.values()) == 224_766_123 - unused


@nnx.jit
def _run(model, image, motion_a, motion_b, scale):
  c2w = cameras.look_at_pose(jnp.array([1.4, 1.8]), jnp.pi / 2, 4.0,
                             (0.0, 0.0, 0.09))
  intr = cameras.focal_intrinsics(jnp.full((2,), cameras.P4D_FOCAL))
  cfg = render_config.RenderConfig(num_coarse=8, num_fine=8)
  return model(image, motion_a, motion_b, scale, c2w, intr, resolution=16,
               cfg=cfg, key=jax.random.key(0))


@pytest.fixture(scope="module")
def tiny():
  model = synthesizer.Synthesizer(sizes_lib.SynthesizerSizes.tiny(),
                                  nnx.Rngs(0))
  d = sizes_lib.SynthesizerSizes.tiny().canonical.motion_dim
  keys = jax.random.split(jax.random.key(1), 3)
  image = jax.random.uniform(keys[0], (2, 64, 64, 3), minval=-1.0)
  return model, image, jax.random.normal(keys[1], (2, d)), jax.random.normal(
      keys[2], (2, d))


def test_tiny_shapes_and_ranges(tiny):
  model, image, m1, m2 = tiny
  out = _run(model, image, m1, m2, jnp.zeros(2))
  assert out["image_raw"].shape == (2, 16, 16, 3)
  assert out["image"].shape == (2, 64, 64, 3)
  assert out["planes"].shape == (2, 3, 32, 32, 8)
  assert out["mask"].shape == out["depth"].shape == (2, 16, 16)
  raw = out["image_raw"]
  assert float(raw.min()) >= -1.01 and float(raw.max()) <= 1.01
  assert float(out["mask"].min()) >= -1.0 - 1e-6


def test_psi3d_is_motion_scale_zero(tiny):
  """With motion scale 0 the rendered head cannot depend on motion."""
  model, image, m1, m2 = tiny
  a = _run(model, image, m1, m2, jnp.zeros(2))
  b = _run(model, image, 2.0 * m2, -m1, jnp.zeros(2))
  np.testing.assert_array_equal(a["image"], b["image"])
  np.testing.assert_array_equal(a["planes"], b["planes"])


def test_gradients_reach_every_part(tiny):
  model, image, m1, m2 = tiny
  graphdef, params = nnx.split(model, nnx.Param)

  def loss(params):
    out = _run(nnx.merge(graphdef, params), image, m1, m2, jnp.ones(2))
    return jnp.mean(jnp.abs(out["image"])) + jnp.mean(out["mask"] ** 2)

  grads = jax.grad(loss)(params)
  for part in PARTS:
    norms = [float(jnp.abs(g).sum())
             for g in jax.tree.leaves(grads[part])]
    assert all(np.isfinite(norms)) and sum(norms) > 0, part


def test_mismatched_sizes_name_both_fields():
  import dataclasses
  sizes = sizes_lib.SynthesizerSizes.tiny()
  bad = dataclasses.replace(sizes, detail=dataclasses.replace(sizes.detail,
                                                              width=7))
  with pytest.raises(ValueError, match="detail.width=7"):
    synthesizer.Synthesizer(bad, nnx.Rngs(0))
