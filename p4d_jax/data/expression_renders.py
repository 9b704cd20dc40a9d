"""Fresh SynthHeads renders for pretraining the expression extractor
(`tasks.motion_extractor`): every batch is new heads, never seen before.

Batch i is a pure function of (seed, i): `pairs` random expressions, each
rendered on two fresh identities (different pose, camera, lighting and
backdrop), the first identities' renders first:

    image       [2P, S, S, 3]  float32 in [-1, 1]
    camera      [2P, 25]       head-relative camera labels
    expression  [2P, E]        standardised (`params.standardise_expression`)

so example k and example k + P share an expression (the identity-invariance
term compares them). Rendering costs ~50x a training step of the extractor,
so each rendered pair serves about `repeats` steps (degraded and cropped
differently each time) before its heads are dropped for good
(`training_batches`). Expressions are uniform over each parameter's range,
each parameter left at neutral with probability `p_neutral` (video frames
are mostly near neutral); poses and cameras span the multi-view stills'
ranges. The held-out stream (`held_out=True`) draws from other seeds, so its
identities never occur in training.
"""

from __future__ import annotations

import dataclasses
import functools

import grain
import jax
import numpy as np

from p4d_jax import user_errors
from p4d_jax.data.synthheads import examples
from p4d_jax.data.synthheads import motion
from p4d_jax.data.synthheads import params as P
from p4d_jax.data.synthheads import render
from p4d_jax.parallel import hosts
from p4d_jax.rendering import camera_settings


@dataclasses.dataclass(frozen=True)
class RenderSettings:
  resolution: int = 64
  supersample: int = 1     # 2 = anti-aliased like the stored clips
  seed: int = 0
  p_neutral: float = 0.3
  repeats: int = 1         # steps each rendered batch serves, on average
  window: int = 1          # rendered batches a step draws its pairs from


def random_expression(rng: np.random.Generator, p_neutral: float) -> np.ndarray:
  e = P.uniform(rng, P.EXPRESSION)
  return np.where(rng.random(len(e)) < p_neutral, 0.0, e).astype(np.float32)


def random_scene(rng: np.random.Generator, expression: np.ndarray) -> P.Scene:
  return P.Scene(identity=P.uniform(rng, P.IDENTITY), expression=expression,
                 pose=P.uniform(rng, P.POSE),
                 lighting=P.uniform(rng, P.LIGHTING),
                 background=P.uniform(rng, P.BACKGROUND))


def render_batch(settings: RenderSettings, index: int, pairs: int,
                 held_out: bool = False) -> dict:
  """Batch `index` of the training (or held-out) stream; see the module."""
  rng = P.rng_for(settings.seed, "extractor", int(held_out), index)
  expressions = [random_expression(rng, settings.p_neutral)
                 for _ in range(pairs)]
  scenes = [random_scene(rng, e) for e in expressions + expressions]
  cams = motion.random_view_cameras(rng, 2 * pairs,
                                    camera_settings.RandomViewRanges())
  stacked = P.Scene(*(np.stack(f) for f in zip(*scenes)))
  out = render.render(stacked, cams,
                      np.broadcast_to(examples.INTRINSICS, (2 * pairs, 3, 3)),
                      settings.resolution, supersample=settings.supersample)
  rel = np.asarray(render.head_relative_camera(cams, stacked.pose))
  return dict(image=(out["rgb"] * 2.0 - 1.0).astype(np.float32),
              camera=examples.camera_label(rel),
              expression=P.standardise_expression(stacked.expression))


def _pairs(batch: dict, slots: np.ndarray) -> tuple[dict, dict]:
  """Pair `slots` of a rendered batch: (first identities, second ones)."""
  half = len(batch["expression"]) // 2
  return ({k: v[slots] for k, v in batch.items()},
          {k: v[slots + half] for k, v in batch.items()})


def training_batches(settings: RenderSettings, global_batch: int
                     ) -> grain.IterDataset:
  """Endless, checkpointable batches for this host.

  A new batch of heads is rendered every `repeats` steps; each step draws
  its pairs at random from the newest `window` rendered batches, so that
  consecutive steps are not the same images (which fits one batch, then
  the next, and learns less) while each rendered pair still serves about
  `repeats` steps. Step j is a pure function of (seed, host, j): a resumed
  run renders its window again and continues exactly."""
  local = hosts.local_batch_size(global_batch, jax.process_count())
  if local % 2:
    raise user_errors.UserError(f"the extractor's batch ({local} per host) must be "
                     "even: each expression is rendered on two identities.")
  if settings.repeats < 1 or settings.window < 1:
    raise user_errors.UserError(f"config.data.repeats ({settings.repeats}) and window "
                     f"({settings.window}) must be at least 1.")
  pairs, host, hosts_ = local // 2, jax.process_index(), jax.process_count()

  @functools.lru_cache(maxsize=settings.window + 1)
  def rendered(index):
    return render_batch(settings, index * hosts_ + host, pairs)

  def step_batch(j):
    newest = j // settings.repeats
    rng = P.rng_for(settings.seed, "extractor", 2, host, j)
    which = rng.integers(max(0, newest - settings.window + 1), newest + 1,
                         size=pairs)
    slots = rng.integers(pairs, size=pairs)
    firsts, seconds = zip(*(_pairs(rendered(int(b)), slots[k:k + 1])
                            for k, b in enumerate(which)))
    return {k: np.concatenate([f[k] for f in firsts] +
                              [s[k] for s in seconds]) for k in firsts[0]}

  # One reading thread: grain's default (16 threads, 500 batches ahead)
  # renders the same heads many times over in parallel and starves the step.
  return grain.MapDataset.range(2**31).map(
      lambda j: step_batch(int(j))).to_iter_dataset(
          grain.ReadOptions(num_threads=1, prefetch_buffer_size=4))


def held_out(settings: RenderSettings, count: int, batch: int = 32) -> dict:
  """`count` held-out examples (fixed by the seed), concatenated."""
  parts = [render_batch(settings, i, batch // 2, held_out=True)
           for i in range(-(-count // batch))]
  return {k: np.concatenate([p[k] for p in parts])[:count] for k in parts[0]}
