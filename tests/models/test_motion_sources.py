"""The motion seam: `config.motion.kind` picks a source; the oracle feeds
exact expressions, the pretrained source takes a motion-extractor run's
network and never changes it, and a new kind is one class plus one
registry line."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from p4d_jax import config_bridge
from p4d_jax import run_weights
from p4d_jax.data import psi4d_batches
from p4d_jax.inference import avatar
from p4d_jax.models import model as model_lib
from p4d_jax.models import motion
from p4d_jax.models import sizes as sizes_lib
from p4d_jax.models.motion import source as source_lib
from p4d_jax.models.official import pdfgc_crop
from p4d_jax.models.official import pdfgc_net
from p4d_jax.tasks import motion_extractor
from p4d_jax.tasks import psi4d
from tests.tasks.psi3d_small import small_psi_config


def config_of(kind, **motion_cfg):
  config = small_psi_config()
  config.motion.kind = kind
  config.motion.update(motion_cfg)
  return config


def perturbed(params, seed=0):
  """Zero-initialised cross-attention outputs moved, so motion acts."""
  rng = np.random.default_rng(seed)
  return jax.tree.map(
      lambda x: x + 0.05 * rng.standard_normal(x.shape, np.float32), params)


def test_an_unknown_kind_names_the_known_ones():
  with pytest.raises(ValueError, match=r"'lerned' is not one of "
                     r"\['codes', 'learned', 'oracle', 'pdfgc', "
                     r"'pretrained'\]"):
    model_lib.Model.from_config(config_of("lerned"))


def test_oracle_drives_with_exact_expressions():
  model = model_lib.Model.from_config(config_of("oracle"))
  assert model.motion_reads == "expression"
  params = perturbed(model.init(jax.random.key(0)))
  assert "motion_encoder" not in params   # no parameters of its own
  code = model.motion_code(params, jnp.arange(12.0).reshape(2, 6))
  dim = model.sizes.canonical.motion_dim
  np.testing.assert_array_equal(code[:, :6], np.arange(12.0).reshape(2, 6))
  np.testing.assert_array_equal(code[:, 6:], np.zeros((2, dim - 6)))
  image = jnp.zeros((1, 32, 32, 3))
  neutral = jnp.zeros((1, 6))
  source = model.encode_source(params, image,
                               model.motion_code(params, neutral))

  @jax.jit
  def planes(expression):
    return model.animate(params, source, model.motion_code(params,
                                                           expression))
  # Opening the jaw moves the planes; the same expression twice does not.
  jaw = neutral.at[0, 0].set(2.0)
  assert float(jnp.max(jnp.abs(planes(jaw) - planes(neutral)))) > 1e-3
  np.testing.assert_array_equal(planes(neutral), planes(neutral))
  with pytest.raises(ValueError, match="do not fit the model's motion"):
    model.motion_code(params, jnp.zeros((1, dim + 1)))


def test_oracle_reads_the_records_expressions(pseudo_views_tiny):
  """The pseudo-view records of SynthHeads clips carry each frame's exact
  expression; Psi's batches hand them, standardised, to the oracle, and
  the task's motions are exactly those (zero-padded)."""
  config = config_of("oracle")
  config.data.pseudo_views = pseudo_views_tiny[-1]
  task = psi4d.Psi4dTask(config)
  batch = next(iter(psi4d_batches.training_batches(config.data, 32, 4,
                                                   expressions=True)))
  assert batch["driving_expression"].shape == (4, 6)
  # Standardised: a parameter uniform over its range has unit variance.
  assert 0.2 < float(np.std(batch["driving_expression"])) < 3.0
  params = task.model.init(jax.random.key(0))
  source, driving = task.motions(params, batch, jax.random.key(1))
  np.testing.assert_array_equal(driving[:, :6], batch["driving_expression"])
  np.testing.assert_array_equal(source[:, :6], batch["source_expression"])


def extractor_run(path, seed=3):
  """A motion-extractor run directory with random ("trained") weights."""
  sizes = sizes_lib.ExtractorSizes()
  params = motion_extractor.Extractor(sizes).init(jax.random.key(seed))
  run = run_weights.write(str(path), dict(
      task="motion_extractor",
      motion=dict(extractor=config_bridge.to_fields(sizes))), params)
  return run, params


def framed_batch(count, size=32, seed=0):
  rng = np.random.default_rng(seed)
  labels = np.stack([avatar.view_label(y) for y in rng.uniform(-.5, .5,
                                                               count)])
  return dict(image=jnp.asarray(rng.uniform(-1, 1, (count, size, size, 3)),
                                jnp.float32),
              camera=jnp.asarray(labels))


def test_pretrained_reads_an_extractor_run_and_keeps_it(tmp_path):
  run, trained = extractor_run(tmp_path / "extractor")
  task = psi4d.Psi4dTask(config_of("pretrained", weights=run))
  assert task.model.motion_reads == "framed"
  state = jax.jit(task.init_state)(jax.random.key(0))
  want = jax.tree.leaves(trained["motion_encoder"])
  got = jax.tree.leaves(state["params"]["motion_encoder"])
  for g, w in zip(got, want):
    np.testing.assert_array_equal(g, w)
  # Its code: the extractor's expressions, zero-padded like the oracle's.
  frames = framed_batch(2)
  code = task.model.motion_code(state["params"], frames)
  expr = motion_extractor.Extractor(sizes_lib.ExtractorSizes()).predict(
      trained, frames["image"], frames["camera"])
  np.testing.assert_allclose(code[:, :6], expr, rtol=1e-5, atol=1e-6)
  assert float(jnp.max(jnp.abs(code[:, 6:]))) == 0.0
  # Frozen: no gradient reaches it, and a step leaves it as it was.
  grads = jax.grad(lambda p: jnp.sum(task.model.motion_code(p, frames)))(
      state["params"])
  assert all(float(jnp.max(jnp.abs(g))) == 0.0
             for g in jax.tree.leaves(grads))
  # And the optimizer leaves it alone while it moves everything else.
  tx = task.training.tx
  updates = jax.jit(lambda p: tx.update(jax.tree.map(jnp.ones_like, p),
                                        tx.init(p), p)[0])(state["params"])
  assert all(float(jnp.max(jnp.abs(u))) == 0.0
             for u in jax.tree.leaves(updates["motion_encoder"]))
  assert all(float(jnp.max(jnp.abs(u))) > 0.0
             for u in jax.tree.leaves(updates["encoder_global"]))


def test_pretrained_refuses_what_is_not_its_extractor(tmp_path):
  with pytest.raises(ValueError, match="needs motion.weights"):
    model_lib.Model.from_config(config_of("pretrained", weights=""))
  run, _ = extractor_run(tmp_path / "extractor")
  config = config_of("pretrained", weights=run)
  config.motion.extractor.hidden = 64
  model = model_lib.Model.from_config(config)
  with pytest.raises(ValueError, match="holds an extractor of sizes"):
    model.init(jax.random.key(0))
  psi_run = run_weights.write(str(tmp_path / "psi"), dict(task="psi4d"),
                              {"x": jnp.zeros(1)})
  model = model_lib.Model.from_config(config_of("pretrained",
                                                weights=psi_run))
  with pytest.raises(ValueError, match="is a 'psi4d' run"):
    model.init(jax.random.key(0))


def test_a_new_kind_is_one_class_and_one_registry_line(monkeypatch):
  class Constant(source_lib.MotionSource):
    """Every frame gets one learned vector: a source with parameters."""
    reads = "image"

    def build(self, rngs):
      return nnx.Linear(1, self.dim, rngs=rngs)

    def encode(self, module, frames):
      return module(jnp.ones((frames.shape[0], 1)))

  monkeypatch.setitem(motion.KINDS, "constant", Constant)
  task = psi4d.Psi4dTask(config_of("constant"))
  params = task.model.init(jax.random.key(0))
  assert set(params["motion_encoder"]) == {"kernel", "bias"}
  code = task.model.motion_code(params, jnp.zeros((3, 32, 32, 3)))
  assert code.shape == (3, task.model.sizes.canonical.motion_dim)
  # Trainable: the task's optimizer moves it.
  tx = task.training.tx
  updates = jax.jit(lambda p: tx.update(jax.tree.map(jnp.ones_like, p),
                                        tx.init(p), p)[0])(params)
  assert all(float(jnp.max(jnp.abs(u))) > 0.0
             for u in jax.tree.leaves(updates["motion_encoder"]))


def test_codes_are_the_motion_itself():
  source = motion.KINDS["codes"](config_of("codes").motion, 16)
  codes = jnp.arange(32.0).reshape(2, 16)
  np.testing.assert_array_equal(source.encode(None, codes), codes)
  with pytest.raises(ValueError, match="codes of width 8; the model's "
                     "motion width is 16"):
    source.encode(None, codes[:, :8])


def test_pdfgc_places_its_crop_by_landmarks_or_by_the_camera():
  """Without landmarks the crop's three points are the expression anchors
  seen by the frame's camera: landmarks whose eye and inner-mouth groups
  sit exactly there give the same code."""
  from p4d_jax.models.motion import face_crop  # pylint: disable=import-outside-toplevel
  with pytest.raises(ValueError, match="548-d codes; the model's motion "
                     "width .* is 16"):
    model_lib.Model.from_config(config_of("pdfgc"))
  cfg = config_of("pdfgc").motion
  source = motion.KINDS["pdfgc"](cfg, 548)
  with pytest.raises(ValueError, match="needs motion.weights.*--pdfgc"):
    source.load({})
  assert isinstance(nnx.eval_shape(lambda: source.build(nnx.Rngs(0))),
                    pdfgc_net.FanEncoder)
  crop_of = lambda crop: crop   # noqa: E731  the network is parity-tested
  rng = np.random.default_rng(0)
  labels = jnp.asarray(np.stack([avatar.view_label(y) for y in (-0.3, 0.2)]))
  images = jnp.asarray(rng.uniform(-1, 1, (2, 64, 64, 3)), jnp.float32)
  crop = source.encode(crop_of, dict(image=images, camera=labels))
  assert crop.shape == (2, 224, 224, 3)
  points = face_crop.anchor_pixels(labels)[:, (1, 0, 2)] * 64 - 0.5
  # The anchors' similarity puts the eyes and mouth near PD-FGC's template.
  matrix = pdfgc_crop.similarity(points)
  placed = jnp.einsum("bij,bpj->bpi", matrix[..., :2], points) + matrix[
      ..., None, :, 2]
  np.testing.assert_allclose(placed, np.broadcast_to(
      pdfgc_crop.TEMPLATE, placed.shape), atol=8.0)
  landmarks = jnp.zeros((2, 68, 2))
  for point, (a, b) in enumerate(((36, 42), (42, 48), (60, 68))):
    landmarks = landmarks.at[:, a:b].set(points[:, point, None])
  again = source.encode(crop_of, dict(image=images, camera=labels,
                                      landmarks=landmarks))
  np.testing.assert_allclose(again, crop, atol=1e-4)
