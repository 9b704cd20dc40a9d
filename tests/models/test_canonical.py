"""The canonical transformer: released sizes, motion gating, attention maths."""

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from p4d_jax.models import attention as A
from p4d_jax.models import canonical
from p4d_jax.models import sizes as sizes_lib
from tests.models import released

def _reference_counts():
  count = lambda where: released.count("encoder_canonical", where)  # noqa
  return {
      "total": count(lambda k: True),
      "motion": count(lambda k: ".maps" in k or ".proj_y" in k),
      "patch_embed": count(lambda k: ".patch_embed." in k),
      "neutral": count(lambda k: ".trans_blocks_neutral." in k),
      "driving": count(lambda k: ".trans_blocks_motion." in k),
      "head": count(lambda k: ".convs." in k),
  }


@released.needs_keys
def test_paper_size_matches_the_released_network_exactly():
  """Counted without allocating: every submodule equals the released one."""
  model = nnx.eval_shape(lambda: canonical.EncoderCanonical(
      sizes_lib.CanonicalSizes.paper(), nnx.Rngs(0)))
  n = canonical.parameter_count
  ours = {
      "total": n(model),
      "motion": n(model.neutral_motion) + n(model.driving_motion),
      "patch_embed": n(model.patch_embed),
      "neutral": sum(n(b) for b in model.trans_blocks_neutral),
      "driving": sum(n(b) for b in model.trans_blocks_motion),
      "head": n(model.conv_up1) + n(model.conv_up2) + n(model.conv_out),
  }
  assert ours == _reference_counts()
  assert ours["total"] == 172_209_504


def _tiny(seed=0):
  return canonical.EncoderCanonical(sizes_lib.CanonicalSizes.tiny(),
                                    nnx.Rngs(seed))


def _inputs(key, batch=2):
  s = sizes_lib.CanonicalSizes.tiny()
  k1, k2, k3 = jax.random.split(key, 3)
  return (jax.random.normal(k1, (batch, 8, 8, s.in_channels)),
          jax.random.normal(k2, (batch, s.motion_dim)),
          jax.random.normal(k3, (batch, s.motion_dim)))


def _open_cross_attention(model):
  """Non-zero cross-attention output projections (as after training)."""
  for i, blk in enumerate([*model.trans_blocks_neutral,
                           *model.trans_blocks_motion]):
    kernel = blk.attn2.proj.kernel
    kernel[...] = jax.random.normal(jax.random.key(i), kernel.shape)


def test_output_shape_is_four_times_the_feature_grid():
  model = _tiny()
  feats, src, drv = _inputs(jax.random.key(0))
  out = model(feats, src, drv, jnp.ones(2))
  assert out.shape == (2, 32, 32, sizes_lib.CanonicalSizes.tiny().out_channels)


def test_motion_scale_zero_ignores_motion_exactly():
  """Psi3d = the same network with motion scale 0: motion cannot leak in."""
  model = _tiny()
  _open_cross_attention(model)
  feats, src, drv = _inputs(jax.random.key(1))
  zero = jnp.zeros(2)
  a = model(feats, src, drv, zero)
  b = model(feats, -3.0 * src, drv[::-1], zero)
  np.testing.assert_array_equal(a, b)
  moved = model(feats, src, drv[::-1], jnp.ones(2))
  assert float(jnp.abs(moved - a).max()) > 1e-4   # float noise is ~1e-7


def test_fresh_cross_attention_is_a_no_op():
  """Zero-initialised output projections: a fresh Psi equals Psi3d."""
  model = _tiny()
  feats, src, drv = _inputs(jax.random.key(2))
  np.testing.assert_allclose(model(feats, src, drv, jnp.ones(2)),
                             model(feats, src, drv, jnp.zeros(2)), atol=1e-6)


def _driver_share(cross_init: str) -> float:
  """RMS over motions of what a fresh motion block's cross-attention would
  add once its projection is the identity, relative to the tokens' RMS."""
  sizes = dataclasses.replace(sizes_lib.CanonicalSizes.tiny(),
                              cross_init=cross_init)
  model = canonical.EncoderCanonical(sizes, nnx.Rngs(0))
  feats, src, _ = _inputs(jax.random.key(4), batch=8)
  x = model.neutralise(feats, src, jnp.ones(8))
  x = x.reshape(8, -1, x.shape[-1])
  blk = model.trans_blocks_motion[0]
  blk.attn2.proj.kernel[...] = jnp.eye(x.shape[-1])
  drivers = jax.random.normal(jax.random.key(5), (8, sizes.motion_dim))
  cross = blk.attn2(blk.norm2(x), (4, 4), model.driving_motion(drivers))
  return float(jnp.std(cross, axis=0).mean() / jnp.sqrt(jnp.mean(x ** 2)))


def test_fan_in_cross_attention_lets_the_driver_through():
  """With SegFormer's std-0.02 q/kv, a fresh motion block whose projection
  opened would vary the tokens by drivers ~4 % of their size (width 64); at
  fan-in scale the values keep the motion tokens' size: ~50 %, >= 5x more.
  Both start as no-ops."""
  segformer, fan_in = _driver_share("segformer"), _driver_share("fan_in")
  assert segformer < 0.1 and fan_in > 5 * segformer, (segformer, fan_in)
  sizes = dataclasses.replace(sizes_lib.CanonicalSizes.tiny(),
                              cross_init="fan_in")
  model = canonical.EncoderCanonical(sizes, nnx.Rngs(0))
  feats, src, drv = _inputs(jax.random.key(2))
  np.testing.assert_allclose(model(feats, src, drv, jnp.ones(2)),
                             model(feats, src, drv, jnp.zeros(2)), atol=1e-6)


def test_motion_scale_is_per_sample():
  model = _tiny()
  _open_cross_attention(model)
  feats, src, drv = _inputs(jax.random.key(3))
  mixed = model(feats, src, drv, jnp.array([0.0, 1.0]))
  np.testing.assert_allclose(mixed[0], model(feats, src, drv,
                                             jnp.zeros(2))[0], atol=1e-6)
  np.testing.assert_allclose(mixed[1], model(feats, src, drv,
                                             jnp.ones(2))[1], atol=1e-6)


def _naive_attention(x, context, att, heads):
  """softmax(q k^T / sqrt(d)) v per head, written out loop by loop."""
  q = x @ att.q.kernel[...] + att.q.bias[...]
  kv = context @ att.kv.kernel[...] + att.kv.bias[...]
  c = x.shape[-1]
  k, v = kv[..., :c], kv[..., c:]
  d = c // heads
  outs = []
  for h in range(heads):
    sl = slice(h * d, (h + 1) * d)
    w = jax.nn.softmax(q[..., sl] @ jnp.swapaxes(k[..., sl], -1, -2) /
                       math.sqrt(d), axis=-1)
    outs.append(w @ v[..., sl])
  return jnp.concatenate(outs, -1) @ att.proj.kernel[...] + att.proj.bias[...]


def test_attention_matches_the_textbook_formula():
  att = A.Attention(16, 4, nnx.Rngs(0))
  x = jax.random.normal(jax.random.key(0), (2, 12, 16))
  ctx = jax.random.normal(jax.random.key(1), (2, 5, 16))
  np.testing.assert_allclose(att(x, (3, 4)), _naive_attention(x, x, att, 4),
                             atol=1e-5)
  np.testing.assert_allclose(att(x, (3, 4), context=ctx),
                             _naive_attention(x, ctx, att, 4), atol=1e-5)


def test_spatial_reduction_attends_to_the_strided_conv_of_the_grid():
  att = A.Attention(8, 2, nnx.Rngs(0), sr_ratio=2)
  x = jax.random.normal(jax.random.key(0), (1, 16, 8))
  grid = x.reshape(1, 4, 4, 8)
  # A 2x2 stride-2 conv on a 4x4 grid: 4 tokens, each from its own block.
  kernel, bias = att.sr.kernel[...], att.sr.bias[...]
  blocks = grid.reshape(1, 2, 2, 2, 2, 8).transpose(0, 1, 3, 2, 4, 5)
  reduced = jnp.einsum("bhwijc,ijco->bhwo", blocks, kernel) + bias
  context = att.norm(reduced.reshape(1, 4, 8))
  np.testing.assert_allclose(att(x, (4, 4)),
                             _naive_attention(x, context, att, 2), atol=1e-5)


def test_pixel_shuffle_uses_pytorch_channel_order():
  """Input channel c*4 + i*2 + j lands at (2h+i, 2w+j) of output channel c."""
  x = jnp.arange(2 * 3 * 8, dtype=jnp.float32).reshape(1, 2, 3, 8)
  y = A.pixel_shuffle(x)
  assert y.shape == (1, 4, 6, 2)
  for c in range(2):
    for i in range(2):
      for j in range(2):
        np.testing.assert_array_equal(y[0, i::2, j::2, c],
                                      x[0, :, :, c * 4 + i * 2 + j])


def test_bilinear_upsampling_keeps_corners_and_ramps():
  """align_corners=True: corners stay, and a linear ramp stays linear."""
  ramp = jnp.linspace(0.0, 1.0, 5)
  x = (ramp[:, None] + 2.0 * ramp[None, :])[None, :, :, None]
  y = A.upsample_bilinear(x)
  fine = jnp.linspace(0.0, 1.0, 10)
  np.testing.assert_allclose(y[0, :, :, 0],
                             fine[:, None] + 2.0 * fine[None, :], atol=1e-6)


def test_gelu_is_the_exact_erf_form():
  x = jnp.array([-2.0, -0.5, 0.3, 1.7])
  exact = 0.5 * x * (1.0 + jax.scipy.special.erf(x / math.sqrt(2.0)))
  np.testing.assert_allclose(A.gelu(x), exact, rtol=1e-6)


def test_mix_ffn_is_translation_equivariant_inside_the_grid():
  """The depthwise conv mixes only 3x3 neighbourhoods: shifting a pattern
  on the grid shifts the output, away from the zero-padded border."""
  ffn = A.MixFFN(4, 8, nnx.Rngs(0))
  pattern = jnp.zeros((1, 10, 10, 4)).at[0, 3:5, 3:5].set(
      jax.random.normal(jax.random.key(0), (2, 2, 4)))
  shifted = jnp.roll(pattern, (2, 3), axis=(1, 2))
  out = ffn(pattern.reshape(1, 100, 4), (10, 10)).reshape(1, 10, 10, 4)
  out_shifted = ffn(shifted.reshape(1, 100, 4), (10, 10)).reshape(1, 10, 10, 4)
  np.testing.assert_allclose(out_shifted[0, 4:9, 4:9],
                             out[0, 2:7, 1:6], atol=1e-6)
