"""Real3D-Portrait's audio-to-motion design, small: a conditional VAE on the
expression track with a flow prior conditioned on the audio
(`research/real3d_extensions.md` §1).

    g       the audio trunk's hidden vectors [B, T, W] (`temporal.AudioTrunk`)
    q(z|x)  encoder: the track x [B, T, E] and g -> a Gaussian latent
            [B, T/2, Z] (one latent step every two frames)
    p(x|z)  decoder: z repeated to frame rate, with g -> the track
    p(z|g)  prior: N(0, I) pushed through mean-only coupling layers
            conditioned on g pooled to T/2 (volume-preserving, so no
            log-determinant), with the channels flipped between layers

Training minimises the track's error plus kl = E_q[log q(z|x) - log p(z|g)]
(one sample); generation draws u ~ N(0, temperature^2), inverts the flow
and decodes. At temperature 0 the track is deterministic given the audio.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from p4d_jax.models import temporal
from p4d_jax.models.sizes import Audio2MotionSizes


def pool_pairs(x: jax.Array) -> jax.Array:
  """[B, 2S, C] -> [B, S, C], the mean of consecutive pairs."""
  b, t, c = x.shape
  return x.reshape(b, t // 2, 2, c).mean(2)


class _Coupling(nnx.Module):
  """The shift of the second half of the channels given the first and g;
  its last conv starts at zero (the prior starts as N(0, I))."""

  def __init__(self, half: int, cond: int, hidden: int, rngs: nnx.Rngs):
    self.inp = temporal.conv1d(half + cond, hidden, 3, rngs)
    self.mid = temporal.conv1d(hidden, hidden, 3, rngs)
    self.out = temporal.conv1d(hidden, half, 3, rngs, zero=True)

  def __call__(self, za: jax.Array, g: jax.Array) -> jax.Array:
    h = jax.nn.gelu(self.inp(jnp.concatenate([za, g], -1)))
    return self.out(jax.nn.gelu(self.mid(h)))


class FlowPrior(nnx.Module):
  """z [B, S, Z] <-> u [B, S, Z] given g [B, S, W]; log p(z|g) = log N(u)."""

  def __init__(self, latent: int, cond: int, hidden: int, flows: int,
               rngs: nnx.Rngs):
    if latent % 2:
      raise ValueError(f"the cvae's latent width {latent} must be even.")
    self.half = latent // 2
    self.layers = nnx.List([_Coupling(self.half, cond, hidden, rngs)
                            for _ in range(flows)])

  def forward(self, z: jax.Array, g: jax.Array) -> jax.Array:
    for layer in self.layers:
      za, zb = z[..., :self.half], z[..., self.half:]
      z = jnp.concatenate([za, zb + layer(za, g)], -1)[..., ::-1]
    return z

  def inverse(self, u: jax.Array, g: jax.Array) -> jax.Array:
    for layer in reversed(self.layers):
      u = u[..., ::-1]
      za, zb = u[..., :self.half], u[..., self.half:]
      u = jnp.concatenate([za, zb - layer(za, g)], -1)
    return u


class MotionVAE(nnx.Module):
  """features [B, 4T, F] (and, training, the track [B, T, E]) -> standardised
  expressions [B, T, E] (see the module)."""

  def __init__(self, sizes: Audio2MotionSizes, features: int,
               rngs: nnx.Rngs):
    w, z = sizes.width, sizes.latent
    self.latent = z
    self.trunk = temporal.AudioTrunk(sizes, features, rngs)
    self.enc_in = temporal.conv1d(sizes.outputs + w, w, 3, rngs)
    self.enc_down = temporal.conv1d(w, w, 5, rngs, stride=2)
    self.enc_out = nnx.Linear(w, 2 * z, rngs=rngs)
    self.dec_in = nnx.Linear(z + w, w, rngs=rngs)
    self.dec_blocks = nnx.List([temporal.Residual(w, d, rngs)
                                for d in (1, 2)])
    self.dec_norm = nnx.LayerNorm(w, rngs=rngs)
    self.dec_out = nnx.Linear(w, sizes.outputs, rngs=rngs)
    self.prior = FlowPrior(z, w, sizes.flow_hidden, sizes.flows, rngs)

  def _condition(self, features: jax.Array) -> tuple[jax.Array, int]:
    """(g padded to an even length by repeating its last frame, T)."""
    g = self.trunk.hidden(features)
    frames = g.shape[1]
    if frames % 2:
      g = jnp.concatenate([g, g[:, -1:]], 1)
    return g, frames

  def decode(self, z: jax.Array, g: jax.Array) -> jax.Array:
    x = self.dec_in(jnp.concatenate([jnp.repeat(z, 2, axis=1), g], -1))
    for block in self.dec_blocks:
      x = block(x)
    return self.dec_out(self.dec_norm(x))

  def fit_terms(self, features, target, key) -> tuple[jax.Array, dict]:
    """(the track decoded from a posterior sample, {"kl": ...})."""
    g, frames = self._condition(features)
    if target.shape[1] % 2:
      target = jnp.concatenate([target, target[:, -1:]], 1)
    h = jax.nn.gelu(self.enc_in(jnp.concatenate([target, g], -1)))
    stats = self.enc_out(jax.nn.gelu(self.enc_down(h)))
    mean, log_std = stats[..., :self.latent], stats[..., self.latent:]
    eps = jax.random.normal(key, mean.shape)
    z = mean + jnp.exp(log_std) * eps
    u = self.prior.forward(z, pool_pairs(g))
    kl = jnp.mean(0.5 * jnp.square(u) - 0.5 * jnp.square(eps) - log_std)
    return self.decode(z, g)[:, :frames], dict(kl=kl)

  def generate(self, features, key, temperature: float) -> jax.Array:
    g, frames = self._condition(features)
    u = temperature * jax.random.normal(
        key, (g.shape[0], g.shape[1] // 2, self.latent))
    z = self.prior.inverse(u, pool_pairs(g))
    return self.decode(z, g)[:, :frames]
