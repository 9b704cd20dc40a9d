"""Loss terms and regularisers as pure functions (weights live in configs).

Images are in [-1, 1]; masks and opacities in [0, 1]; batch dims lead.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp


def l1(pred: jax.Array, target: jax.Array,
       weight: jax.Array | None = None) -> jax.Array:
  """Mean |pred - target|; with `weight` (broadcastable) a weighted mean."""
  diff = jnp.abs(pred - target)
  if weight is None:
    return jnp.mean(diff)
  weight = jnp.broadcast_to(weight, diff.shape)
  return jnp.sum(weight * diff) / jnp.maximum(jnp.sum(weight), 1e-8)


def opacity(pred_opacity: jax.Array, mask: jax.Array,
            weight: jax.Array | None = None) -> jax.Array:
  """L1 between rendered opacity [B, H, W] and the foreground mask; with
  `weight` a weighted mean."""
  return l1(pred_opacity, mask, weight)


def density_tv(sigma_fn: Callable[[jax.Array], jax.Array], key: jax.Array,
               batch: int, box_warp: float, points: int = 1000,
               distance: float = 0.004) -> jax.Array:
  """EG3D's density regulariser: mean |sigma(x) - sigma(x + e)| over points
  x uniform in the box and e ~ N(0, (distance * box_warp)^2).

  sigma_fn: points [B, N, 3] -> raw densities [B, N].
  """
  k_x, k_e = jax.random.split(key)
  x = jax.random.uniform(k_x, (batch, points, 3), minval=-0.5,
                         maxval=0.5) * box_warp
  e = jax.random.normal(k_e, x.shape) * distance * box_warp
  return jnp.mean(jnp.abs(sigma_fn(x) - sigma_fn(x + e)))


def generator_adversarial(fake_logits: jax.Array) -> jax.Array:
  """Non-saturating generator loss: mean softplus(-D(fake))."""
  return jnp.mean(jax.nn.softplus(-fake_logits))


def discriminator_adversarial(real_logits: jax.Array,
                              fake_logits: jax.Array) -> jax.Array:
  """Logistic discriminator loss: mean softplus(D(fake)) + softplus(-D(real))."""
  return (jnp.mean(jax.nn.softplus(fake_logits)) +
          jnp.mean(jax.nn.softplus(-real_logits)))


def r1_penalty(d_fn: Callable[[jax.Array], jax.Array],
               real: jax.Array) -> jax.Array:
  """Mean over the batch of |grad_x D(x)|^2 at real inputs [B, ...]
  (multiply by gamma / 2 and the lazy interval in the step)."""
  grads = jax.grad(lambda x: jnp.sum(d_fn(x)))(real)
  return jnp.mean(jnp.sum(jnp.square(grads), axis=tuple(range(1,
                                                               grads.ndim))))


def ema_decay(batch: int, half_life_images: float, images_seen: float,
              rampup: float | None = None) -> jax.Array:
  """Per-step EMA decay: the old weights' share halves every
  `half_life_images`; with `rampup`, the half-life is at most
  rampup * images_seen (StyleGAN's warm-up). Traceable."""
  half_life = jnp.asarray(half_life_images, jnp.float32)
  if rampup is not None:
    half_life = jnp.minimum(half_life, images_seen * rampup)
  return 0.5 ** (batch / jnp.maximum(half_life, 1e-8))


def ema_update(ema, params, decay: float):
  """ema <- decay * ema + (1 - decay) * params, leaf by leaf."""
  return jax.tree.map(lambda e, p: decay * e + (1.0 - decay) * p, ema, params)
