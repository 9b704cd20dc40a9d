"""The motion encoder: a driving image -> a motion vector for Psi's
cross-attention (Portrait4D's role for PD-FGC's 548-d embedding).

A small strided CNN with global average pooling, trained jointly with Psi
by default. Whatever the encoder sees of the driving image can leak its
identity into the reenactment; what limits that here is the bottleneck
(`dim`, 548 at paper size like PD-FGC, 16 in tiny), the pooling (no spatial
layout survives), and training on pseudo views of the driving frame (90% of
steps) whose identity differs in detail from the real frame the loss sees.
An external, frozen encoder plugs in through `load_npz` (a converter writes
its weights under this module's parameter paths) and `config.motion.frozen`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from p4d_jax.models import attention as A
from p4d_jax.models import encoders
from p4d_jax.models import sizes as sizes_lib


class MotionEncoder(nnx.Module):
  """image [B, S, S, 3] in [-1, 1] -> motion [B, dim]."""

  def __init__(self, sizes: sizes_lib.MotionSizes, rngs: nnx.Rngs):
    widths = (5,) + tuple(sizes.widths)   # RGB + coordinate channels
    self.convs = nnx.List([A.conv(a, b, 3, rngs, stride=2)
                           for a, b in zip(widths[:-1], widths[1:])])
    self.head = A.linear(widths[-1], sizes.dim, rngs)

  def __call__(self, image: jax.Array) -> jax.Array:
    x = encoders.add_coords(image)
    for conv in self.convs:
      x = encoders.lrelu(conv(x))
    motion = self.head(jnp.mean(x, axis=(1, 2)))
    # Unit RMS, like PD-FGC's embeddings: the fresh CNN's raw output is about
    # 1e-3, so small that the motion tokens were nearly constant and Psi
    # learnt to ignore the driver (the eye and mouth metrics showed it).
    return motion * jax.lax.rsqrt(jnp.mean(jnp.square(motion), axis=-1,
                                           keepdims=True) + 1e-12)


def load_npz(path: str, params: nnx.State) -> nnx.State:
  """Replaces `params` (the encoder's nnx.State) by arrays named by their
  '/'-joined paths in an .npz (e.g. "convs/0/kernel"); every path must be
  there with its shape."""
  with np.load(path) as weights:
    flat, treedef = jax.tree_util.tree_flatten_with_path(params)
    leaves = []
    for keys, like in flat:
      name = "/".join(str(getattr(k, "key", getattr(k, "idx", k)))
                      for k in keys if getattr(k, "name", None) != "value")
      if name not in weights or weights[name].shape != like.shape:
        raise ValueError(f"{path}: motion encoder weight {name} "
                         f"{'missing' if name not in weights else weights[name].shape}"
                         f", want {like.shape}.")
      leaves.append(jnp.asarray(weights[name], like.dtype))
  return jax.tree.unflatten(treedef, leaves)
