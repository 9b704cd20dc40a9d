"""The eye and mouth regions hold the pixels that expressions change."""

import numpy as np
import pytest

from p4d_jax.data.synthheads import examples
from p4d_jax.data.synthheads import params as P
from p4d_jax.data.synthheads import regions
from p4d_jax.data.synthheads import render
from p4d_jax.rendering import cameras

RES = 96
POSE = np.array([0.3, -0.1, 0.1], np.float32)   # a turned, tilted head


@pytest.fixture(scope="module")
def renders():
  """Identity 1 at POSE, seen from the side, neutral and with each change."""
  changes = dict(eyes=P.expression_vector(blink_left=1, blink_right=1,
                                          brow_raise=1),
                 pucker=P.expression_vector(pucker=1),
                 jaw=P.expression_vector(jaw_open=1),
                 smile=P.expression_vector(smile=1))
  scenes = [examples.still_scene(3, 1, e, POSE)
            for e in [P.neutral_expression(), *changes.values()]]
  cam = np.asarray(cameras.random_view_pose(-0.2, 0.1, 0.0, 4.0,
                                            (0.0, 0.0, 0.09)))
  world = np.asarray(render.head_to_world(POSE)) @ cam
  out = render.render(P.Scene(*(np.stack(f) for f in zip(*scenes))),
                      np.stack([world] * len(scenes)),
                      np.broadcast_to(examples.INTRINSICS,
                                      (len(scenes), 3, 3)), RES)
  label = cameras.pack_label(render.head_relative_camera(world, POSE),
                             examples.INTRINSICS)
  masks = regions.region_masks(scenes[0].identity, label, RES)
  changed = {name: np.abs(out["rgb"][i + 1] - out["rgb"][0]).max(-1) > 0.02
             for i, name in enumerate(changes)}
  return masks, changed


@pytest.mark.parametrize("change,region", [("eyes", "eyes"),
                                           ("pucker", "mouth"),
                                           ("jaw", "mouth"),
                                           ("smile", "mouth")])
def test_an_expression_changes_pixels_inside_its_region_only(renders, change,
                                                             region):
  masks, changed = renders
  pixels = changed[change]
  assert pixels.sum() > 20                      # the change is visible
  inside = masks[regions.REGIONS.index(region)]
  other = masks[1 - regions.REGIONS.index(region)]
  assert (pixels * inside).sum() / pixels.sum() >= 0.9
  assert (pixels * other).sum() == 0


def test_regions_are_disjoint_and_small(renders):
  masks, _ = renders
  assert (masks[0] * masks[1]).sum() == 0
  for m in masks:
    assert 0.01 < m.mean() < 0.15               # a region, not the frame
