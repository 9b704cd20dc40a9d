"""Few-shot adaptation measured on held-out SynthHeads identities with exact
ground truth (p4d_jax/evaluation/few_shot.py): one JSON line per identity,
K and variant, appended to --out.

  python tools/bench_adapt.py --run=/tmp/demo_v12/psi4d --identities=32 \\
      --ks=4 --variants=fusion,adapt --out=outputs/bench_adapt.jsonl \\
      [--curve_every=20] [--config.identity.steps=120]

Variants (each on the first K of the person's 8 inputs):
  fusion         feed-forward fusion, no step (K = 1: plain Psi)
  adapt          calibration + identity stage (configs/adapt.py), noisy cameras
                 (every adapting variant gets the inputs' masks, but:)
  adapt_nomask   adapt without the inputs' masks (as for photos)
  adapt_nocalib  the identity stage alone, noisy cameras
  adapt_true     the identity stage alone, TRUE cameras (the upper bound)
  tokens, biases, weights, lora   one trainable set alone, with calibration,
                 noisy
Noisy cameras: every input camera turned by --noise_deg about the head,
moved by --noise_translation of its distance, the focal scaled by
1 +- --noise_focal (`adaptation.calibration.perturb`). Each line holds the
held-out metrics (novel view x novel expression), the input-view fit, the
camera error before and after, the step count and seconds, and with
--curve_every the held-out PSNR along the steps. `--summary` prints the
table of a results file (mean +- 95% CI over identities); `--plot=PNG` with
it draws the mean held-out PSNR (full and masked) against the steps.
"""

from __future__ import annotations

import collections
import json
import os

from absl import flags
from absl import logging
from ml_collections import config_flags
import numpy as np
from PIL import Image
from PIL import ImageDraw

import configs
from p4d_jax import user_errors
from p4d_jax.adaptation import calibration
from p4d_jax.adaptation import fit
from p4d_jax.data.synthheads import params as P
from p4d_jax.evaluation import few_shot
from p4d_jax.inference import avatar as avatar_lib
from p4d_jax.media import atomic
from p4d_jax.tasks import runs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_CONFIG = user_errors.define_flags(lambda: config_flags.DEFINE_config_file(
    "config", os.path.join(ROOT, "configs/adapt.py:tiny"),
    "The adaptation's config (every variant starts from it).",
    lock_config=True))
_RUN = flags.DEFINE_string("run", None, "A trained Psi run.")
_OUT = flags.DEFINE_string("out", "outputs/bench_adapt.jsonl",
                           "JSON lines, appended.")
_IDENTITIES = flags.DEFINE_integer("identities", 32, "Held-out identities.")
_FIRST = flags.DEFINE_integer("first", 0, "The first identity's number.")
_KS = flags.DEFINE_list("ks", ["4"], "Input counts K (at most 8).")
_VARIANTS = flags.DEFINE_list("variants", ["fusion", "adapt"], "See above.")
_CURVE = flags.DEFINE_integer("curve_every", 0, "Held-out PSNR every N steps "
                              "(0: none).")
_NOISE_DEG = flags.DEFINE_float("noise_deg", 3.0, "Camera rotation noise.")
_NOISE_T = flags.DEFINE_float("noise_translation", 0.02, "Fraction of the "
                              "camera distance.")
_NOISE_F = flags.DEFINE_float("noise_focal", 0.02, "Focal noise fraction.")
_SUMMARY = flags.DEFINE_bool("summary", False, "Only print --out's table.")
_PLOT = flags.DEFINE_string("plot", "", "With --summary: the curve's PNG.")

VARIANTS = {
    "fusion": dict(cameras="noisy", set={"calibration.steps": 0,
                                         "identity.steps": 0}),
    "adapt": dict(cameras="noisy", set={}),
    "adapt_nomask": dict(cameras="noisy", set={}, masks=False),
    "adapt_nocalib": dict(cameras="noisy",
                          set={"calibration.enabled": False}),
    "adapt_true": dict(cameras="true", set={"calibration.enabled": False}),
    "tokens": dict(cameras="noisy", set={"identity.biases": False,
                                         "identity.weights": ""}),
    "biases": dict(cameras="noisy", set={"identity.tokens": False,
                                         "identity.weights": ""}),
    "weights": dict(cameras="noisy", set={"identity.tokens": False,
                                          "identity.biases": False}),
    "lora": dict(cameras="noisy", set={"identity.tokens": False,
                                       "identity.biases": False,
                                       "identity.weights": "",
                                       "identity.lora_rank": 4}),
}
HEADLINE = ("psnr_masked", "psnr", "ssim_masked", "ssim", "depth_error")


def variant_config(base, name: str):
  if name not in VARIANTS:
    raise user_errors.UserError(f"--variants: {name!r} is not one of "
                                f"{sorted(VARIANTS)}.")
  cfg = base.copy_and_resolve_references()
  cfg.unlock()
  for key, value in VARIANTS[name]["set"].items():
    section, field = key.split(".")
    cfg[section][field] = value
  cfg.lock()
  return cfg


def _means(scores: dict) -> dict:
  return {k: float(np.mean(v)) for k, v in scores.items()}


def evaluate(avatar, params, source, person: dict, k: int,
             labels: np.ndarray) -> dict:
  """Held-out and input-view metrics of an avatar (params, source)."""
  tg, inp = person["targets"], person["inputs"]
  held = avatar.render(source, tg["driving"], tg["label"],
                       tg["driving_label"], params=params)
  fit_views = dict(image=inp["image"][:k], mask=inp["mask"][:k],
                   label=labels)
  own = avatar.render(source, inp["image"][:k], labels, params=params)
  return dict(heldout=_means(few_shot.score(held, tg)),
              inputs=_means(few_shot.score(own, fit_views)))


def bench_one(avatar, adapters: dict, person: dict, k: int,
              name: str) -> dict:
  inp = person["inputs"]
  images, truth = inp["image"][:k], inp["label"][:k]
  rng = P.rng_for(few_shot.SEED, "camera", person["identity"], k)
  noisy, _ = calibration.perturb(truth, rng, _NOISE_DEG.value,
                                 _NOISE_T.value, _NOISE_F.value)
  given = truth if VARIANTS[name]["cameras"] == "true" else noisy
  adapter = adapters[name]
  curve, last = [], {}

  def on_step(step, data, trainables):
    last["density"] = trainables["density"]
    if _CURVE.value and step % _CURVE.value == 0:
      params, source = adapter.adapted(data, trainables)
      tg = person["targets"]
      held = _means(few_shot.score(avatar.render(
          source, tg["driving"], tg["label"], tg["driving_label"],
          params=params), tg))
      curve.append(dict(step=step, **{m: held[m] for m in HEADLINE}))

  masks = inp["mask"][:k] if VARIANTS[name].get("masks", True) else None
  result = adapter.fit(images, given, progress=False, on_step=on_step,
                       masks=masks)
  row = dict(identity=person["identity"], k=k, variant=name,
             masks=masks is not None,
             density_offset=float(last["density"]),
             cameras=VARIANTS[name]["cameras"], steps=result.steps,
             seconds=round(result.seconds, 2),
             camera_error_given=calibration.camera_error(given, truth,
                                                         avatar.image_size),
             camera_error=calibration.camera_error(result.labels, truth,
                                                   avatar.image_size),
             **evaluate(avatar, result.params, result.source, person, k,
                        result.labels))
  if curve:
    row["curve"] = curve
  return row


def summary(path: str) -> list[str]:
  """Markdown rows: variant, K, identities, held-out metrics (mean +- 95%
  CI), input fit PSNR, camera reprojection error given -> after, seconds."""
  groups = collections.defaultdict(list)
  with open(path, encoding="utf-8") as f:
    for line in f:
      row = json.loads(line)
      groups[(row["variant"], row["k"])].append(row)
  lines = []
  cell = lambda vals, d=2: "{:.{d}f} ± {:.{d}f}".format(  # noqa: E731
      *few_shot.mean_ci(vals), d=d)
  for (name, k), rows in sorted(groups.items(), key=lambda x: (x[0][1],
                                                               x[0][0])):
    held = {m: [r["heldout"][m] for r in rows] for m in HEADLINE}
    lines.append(" | ".join([
        name, str(k), str(len(rows)), cell(held["psnr_masked"]),
        cell(held["psnr"]), cell(held["ssim_masked"], 3),
        cell(held["ssim"], 3), cell(held["depth_error"], 4),
        cell([r["inputs"]["psnr"] for r in rows]),
        cell([r["camera_error_given"]["reprojection_px"] for r in rows]) +
        " → " + cell([r["camera_error"]["reprojection_px"] for r in rows]),
        f"{np.mean([r['seconds'] for r in rows]):.0f}"]))
  fusion = {(r["identity"], k): r for (name, k), rows in groups.items()
            if name == "fusion" for r in rows}
  for (name, k), rows in sorted(groups.items()):
    pairs = [(r, fusion[(r["identity"], k)]) for r in rows
             if (r["identity"], k) in fusion and name != "fusion"]
    if pairs:
      delta = lambda m: [a["heldout"][m] - b["heldout"][m]  # noqa: E731
                         for a, b in pairs]
      lines.append(
          f"{name} - fusion, K={k}, {len(pairs)} identities (paired): PSNR "
          f"masked {cell(delta('psnr_masked'))}, full {cell(delta('psnr'))}"
          f", depth error {cell(delta('depth_error'), 4)}; depth better "
          f"for {sum(d < 0 for d in delta('depth_error'))}")
  return lines


def plot_curve(path: str, out: str) -> str:
  """Mean held-out PSNR (full: navy, masked: orange; bands: 95% CI) of the
  rows with a curve, against the step, as a PNG."""
  with open(path, encoding="utf-8") as f:
    curves = [r["curve"] for r in map(json.loads, f)
              if len(r.get("curve", ())) > 1]   # step 0 alone: no steps
  if not curves:
    raise user_errors.UserError(f"{path} has no curves (--curve_every).")
  steps = np.array([c["step"] for c in curves[0]])
  width, height, pad = 560, 340, 48
  img = Image.new("RGB", (width, height), "white")
  draw = ImageDraw.Draw(img)
  stats = {m: np.array([few_shot.mean_ci([c[i][m] for c in curves])
                        for i in range(len(steps))])
           for m in ("psnr", "psnr_masked")}
  low = min(v[:, 0].min() - v[:, 1].max() for v in stats.values())
  high = max(v[:, 0].max() + v[:, 1].max() for v in stats.values())
  to_x = lambda s: pad + (s - steps[0]) / max(steps[-1] - steps[0], 1) * (
      width - 2 * pad)   # noqa: E731
  to_y = lambda v: height - pad - (v - low) / (high - low) * (
      height - 2 * pad)  # noqa: E731
  draw.rectangle([pad, pad, width - pad, height - pad], outline="gray")
  for colour, (name, v) in zip(("navy", "darkorange"), stats.items()):
    band = [(to_x(s), to_y(m + c)) for s, (m, c) in zip(steps, v)]
    band += [(to_x(s), to_y(m - c)) for s, (m, c) in zip(steps[::-1],
                                                          v[::-1])]
    draw.polygon(band, outline=colour)
    draw.line([(to_x(s), to_y(m)) for s, (m, _) in zip(steps, v)],
              fill=colour, width=2)
    draw.text((to_x(steps[-1]) - 120, to_y(v[-1, 0]) - 16),
              f"{name} {v[-1, 0]:.2f} dB", fill=colour)
  for s in steps[::2]:
    draw.text((to_x(s) - 8, height - pad + 6), str(int(s)), fill="black")
  for v in np.linspace(low, high, 5):
    draw.text((6, to_y(v) - 6), f"{v:.1f}", fill="black")
  draw.text((pad, 14), f"held-out PSNR (dB) vs adaptation step, "
            f"{len(curves)} identities, K=4, noisy cameras", fill="black")
  with atomic.atomic_path(out) as tmp:
    img.save(tmp, format="PNG")
  return out


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  if _SUMMARY.value:
    print("\n".join(summary(_OUT.value)))
    if _PLOT.value:
      print(plot_curve(_OUT.value, _PLOT.value))
    return
  run = runs.load_run(_RUN.value, defaults=configs.preset, task="psi4d")
  avatar = avatar_lib.Avatar(run.model, run.params)
  ks = [int(k) for k in _KS.value]
  if any(not 1 <= k <= few_shot.Protocol.k_max for k in ks):
    raise user_errors.UserError(f"--ks={_KS.value}: each K must be 1..8.")
  adapters = {n: fit.Adapter(avatar, variant_config(_CONFIG.value, n))
              for n in _VARIANTS.value}
  protocol = few_shot.Protocol(size=run.model.image_size)
  user_errors.check_writable(os.path.dirname(os.path.abspath(_OUT.value)),
                             "--out's folder")
  for i in range(_FIRST.value, _FIRST.value + _IDENTITIES.value):
    person = few_shot.person(protocol, i)
    for k in ks:
      for name in _VARIANTS.value:
        row = bench_one(avatar, adapters, person, k, name)
        with open(_OUT.value, "a", encoding="utf-8") as f:
          f.write(json.dumps(row) + "\n")
        h = row["heldout"]
        print(f"[bench_adapt] id {i} K={k} {name}: held-out PSNR "
              f"{h['psnr']:.2f} (masked {h['psnr_masked']:.2f}), depth "
              f"{h['depth_error']:.4f}, camera "
              f"{row['camera_error_given']['reprojection_px']:.2f} -> "
              f"{row['camera_error']['reprojection_px']:.2f} px, "
              f"{row['seconds']:.0f} s", flush=True)


if __name__ == "__main__":
  user_errors.run_absl(main)
