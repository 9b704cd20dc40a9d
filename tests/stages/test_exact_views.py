"""Exact pseudo views (`stages.exact_views`) on SynthHeads `clips/tiny`: the
view at a frame's own head-relative camera is that frame (so the scene, the
frame's expression and the head pose are the right ones), and the stage
writes them as it writes Psi3d's."""

import numpy as np

from p4d_jax.data import clip_sources
from p4d_jax.data import pseudo_view_reader
from p4d_jax.rendering import camera_settings
from p4d_jax.rendering import cameras
from p4d_jax.stages import exact_views
from p4d_jax.stages import pseudo_views


def test_the_view_at_the_frames_own_camera_is_the_frame(synthheads_tiny):
  source = clip_sources.synthheads_clips("tiny", "train", synthheads_tiny)
  renderer = exact_views.ExactViewRenderer("tiny", 16)
  clip_ids, frame_indices, frames, masks, own = [], [], [], [], []
  for i, t in ((0, 0), (0, 5), (3, 7)):
    clip = source.get(i)
    clip_ids.append(clip["clip_id"])
    frame_indices.append(t)
    frames.append(clip["image"][t])
    masks.append(clip["mask"][t])
    own.append(cameras.unpack_label(clip["camera"][t])[0])
  c2w = np.asarray(own, np.float32)[:, None]
  out = renderer(None, c2w, None, None, np.array(clip_ids),
                 np.array(frame_indices))
  assert out["image"].shape == (3, 1, 32, 32, 3)
  assert out["mask"].shape == out["depth"].shape == (3, 1, 16, 16)
  # The clips' frames were rendered at world cameras; these at the labels'
  # head-relative cameras taken back through each frame's head pose.
  diff = np.abs(out["image"][:, 0].astype(int) - np.asarray(frames, int))
  assert diff.max() <= 1 and np.mean(diff > 0) < 0.01
  # Coverage is the area mean of the frame's own mask: block averages agree.
  mask = np.asarray(masks, np.float32).reshape(3, 16, 2, 16, 2).mean((2, 4))
  np.testing.assert_allclose(out["mask"][:, 0], mask, atol=1.0)
  assert np.array_equal(out["depth"] > 0, out["mask"] > 0)
  # Another clip's frame at the same camera is another image.
  other = renderer(None, c2w[:1], None, None, np.array(clip_ids[2:]),
                   np.array([0]))
  assert np.abs(other["image"][0, 0].astype(int) - frames[0]).mean() > 5


def test_the_stage_writes_exact_views_the_reader_reads(synthheads_tiny,
                                                       tmp_path):
  source = clip_sources.synthheads_clips("tiny", "train", synthheads_tiny)
  renderer = exact_views.ExactViewRenderer("tiny", 16)
  settings = pseudo_views.Settings(
      checkpoint=exact_views.EXACT, checkpoint_step=0, clips=source.name,
      num_clips=len(source.frames), views=2,
      ranges=camera_settings.RandomViewRanges(), seed=3, num_shards=2,
      frames_per_batch=8, store_masks=True, store_depth=True)
  summary = pseudo_views.run(source, renderer, settings, str(tmp_path))
  assert summary["frames"] == 6 * 8 and summary["manifest"]
  clips = list(pseudo_view_reader.clips(str(tmp_path), seed=0, epochs=1))
  assert sorted(int(c["clip_id"]) for c in clips) == list(range(6))
  clip = clips[0]
  views = np.asarray(clip["view_image"], int)   # [T, K, S, S, 3]
  assert views.shape[:2] == (8, 2)
  # Views are renders of the head at other cameras, not copies of the frame.
  assert np.abs(views - np.asarray(clip["frame_image"], int)[:, None]).mean() > 5
  assert np.array_equal(np.asarray(clip["view_depth"]) > 0,
                        np.asarray(clip["view_mask"]) > 0)
