"""Image codecs: every bit depth and channel layout decodes to the 8-bit
values it means (16-bit samples rounded, not truncated), [-1, 1] <-> uint8
round-trips all 256 values, and bad files are named."""

import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from p4d_jax.media import image_io

# 16-bit samples and their 8-bit values, round(v / 257). Truncating to the
# high byte (PIL's own 16-bit colour decoding) gets 400, 129 and 65407 wrong.
SAMPLES = np.array([0, 128, 129, 257, 385, 400, 32896, 65407, 65535],
                   np.uint16)
EIGHT_BIT = np.array([0, 0, 1, 1, 1, 2, 128, 255, 255], np.uint8)


def png16(samples: np.ndarray, color_type: int) -> bytes:
  """A 16-bit PNG of uint16 [H, W, C] written byte by byte (PIL and imageio
  cannot write 16-bit colour): color_type 2 RGB, 4 LA, 6 RGBA."""
  h, w = samples.shape[:2]
  rows = b"".join(b"\x00" + row.astype(">u2").tobytes() for row in samples)
  def chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data +
            struct.pack(">I", zlib.crc32(kind + data)))
  return (b"\x89PNG\r\n\x1a\n" +
          chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, color_type, 0, 0,
                                     0)) +
          chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def test_every_uint8_value_survives_float_and_back():
  x = np.arange(256, dtype=np.uint8)
  f = image_io.to_float(x)
  assert f.dtype == np.float32 and f[0] == -1.0 and f[-1] == 1.0
  np.testing.assert_array_equal(image_io.to_uint8(f), x)
  np.testing.assert_array_equal(
      image_io.to_uint8(np.array([-2.0, 0.0, 2.0])), [0, 128, 255])


def test_16bit_grey_png_rounds_to_8_bits_in_three_channels(tmp_path):
  k = np.arange(256, dtype=np.uint16)
  grey = np.concatenate([257 * k, SAMPLES]).reshape(1, -1)
  path = tmp_path / "grey16.png"
  Image.fromarray(grey).save(path)   # PIL writes uint16 as 16-bit grey
  with Image.open(path) as written:
    assert written.mode == "I;16"
  got = image_io.read_image(str(path))
  assert got.shape == (1, grey.shape[1], 3) and got.dtype == np.uint8
  np.testing.assert_array_equal(got[0, :256, 0], k)            # 257 k -> k
  np.testing.assert_array_equal(got[0, 256:, 0], EIGHT_BIT)
  np.testing.assert_array_equal(got[..., 1], got[..., 0])
  np.testing.assert_array_equal(got[..., 2], got[..., 0])


@pytest.mark.parametrize("alpha", [False, True])
def test_16bit_rgb_png_rounds_each_sample_and_drops_alpha(tmp_path, alpha):
  k = np.arange(256, dtype=np.uint16)
  r = np.concatenate([257 * k, SAMPLES])
  rgb = np.stack([r, r[::-1], np.full_like(r, 65535)], -1)[None]
  if alpha:   # an alpha of 0 must not darken the colour
    rgb = np.concatenate([rgb, np.zeros_like(rgb[..., :1])], -1)
  path = tmp_path / "rgb16.png"
  path.write_bytes(png16(rgb, 6 if alpha else 2))
  got = image_io.read_image(str(path))
  want = np.concatenate([k.astype(np.uint8), EIGHT_BIT])
  assert got.shape == (1, len(r), 3)
  np.testing.assert_array_equal(got[0, :, 0], want)
  np.testing.assert_array_equal(got[0, :, 1], want[::-1])
  np.testing.assert_array_equal(got[0, :, 2], 255)


def test_16bit_grey_alpha_png_is_grey(tmp_path):
  la = np.stack([SAMPLES, SAMPLES[::-1]], -1)[None]
  path = tmp_path / "la16.png"
  path.write_bytes(png16(la, 4))
  got = image_io.read_image(str(path))
  np.testing.assert_array_equal(got, np.repeat(EIGHT_BIT[None, :, None], 3,
                                               -1))


def test_8bit_layouts_become_rgb(tmp_path):
  rng = np.random.default_rng(0)
  rgba = rng.integers(0, 256, (5, 6, 4), np.uint8)
  Image.fromarray(rgba).save(tmp_path / "rgba.png")
  np.testing.assert_array_equal(   # alpha dropped, not applied
      image_io.read_image(str(tmp_path / "rgba.png")), rgba[..., :3])
  grey = rgba[..., 0]
  Image.fromarray(grey).save(tmp_path / "grey.png")
  Image.fromarray(rgba[..., :2]).save(tmp_path / "la.png")
  for name in ("grey.png", "la.png"):
    np.testing.assert_array_equal(image_io.read_image(str(tmp_path / name)),
                                  np.repeat(grey[..., None], 3, -1))
  index = grey % 2
  palette = Image.frombytes("P", (6, 5), index.tobytes())
  palette.putpalette([10, 20, 30, 200, 100, 50] + [0] * 762)
  palette.save(tmp_path / "palette.png", transparency=0)
  np.testing.assert_array_equal(
      image_io.read_image(str(tmp_path / "palette.png")),
      np.where(index[..., None] == 1, [200, 100, 50], [10, 20, 30]))
  Image.fromarray(grey > 127).save(tmp_path / "bits.png")   # 1-bit
  bits = np.where(grey > 127, 255, 0)
  np.testing.assert_array_equal(image_io.read_image(str(tmp_path / "bits.png")),
                                np.repeat(bits[..., None], 3, -1))


def test_record_pngs_round_trip_exactly_in_their_layout():
  rng = np.random.default_rng(1)
  rgb = rng.integers(0, 256, (7, 9, 3), np.uint8)
  mask = rng.integers(0, 256, (7, 9), np.uint8)
  np.testing.assert_array_equal(
      image_io.decode_image(image_io.encode_png(rgb), "rgb"), rgb)
  np.testing.assert_array_equal(
      image_io.decode_image(image_io.encode_png(mask), "mask"), mask)
  with pytest.raises(ValueError, match="wants uint8"):
    image_io.encode_png(rgb.astype(np.float32))


def test_image_files_round_trip_atomically(tmp_path):
  image = np.random.default_rng(2).integers(0, 256, (9, 7, 3), np.uint8)
  path = image_io.write_image(str(tmp_path / "a.png"), image)
  np.testing.assert_array_equal(image_io.read_image(path), image)
  assert [p.name for p in tmp_path.iterdir()] == ["a.png"]


def test_bad_files_are_named(tmp_path):
  empty = tmp_path / "empty.png"
  empty.write_bytes(b"")
  with pytest.raises(ValueError, match=r"empty\.png: empty file"):
    image_io.read_image(str(empty))
  text = tmp_path / "notes.png"
  text.write_text("a text file renamed .png\n")
  with pytest.raises(ValueError, match=r"notes\.png: not an image"):
    image_io.read_image(str(text))
  cut = tmp_path / "cut.png"
  noise = np.random.default_rng(3).integers(0, 256, (16, 16, 3), np.uint8)
  cut.write_bytes(image_io.encode_png(noise)[:400])   # a cut download
  with pytest.raises(ValueError, match=r"cut\.png: not an image"):
    image_io.read_image(str(cut))
  with pytest.raises(FileNotFoundError, match="nowhere.png does not exist"):
    image_io.read_image(str(tmp_path / "nowhere.png"))
