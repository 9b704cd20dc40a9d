"""TFRecord framing: a file TensorFlow wrote reads back and is reproduced
byte for byte; damage is reported with the file and offset, or skipped and
counted; writers never leave a partial file under the final name."""

import os
import pathlib

import grain
import pytest

from p4d_jax.data import tfrecord_io

# Written by TensorFlow; shipped inside the grain wheel as test data.
TF_FILE = (pathlib.Path(grain.__file__).parent / "_src" / "python" /
           "testdata" / "morris_sequence_first_5.tfrecord")
MORRIS = [b"1", b"1 1", b"2 1", b"1 2 1 1", b"1 1 1 2 2 1"]


def write(path, items):
  writer = tfrecord_io.TFRecordWriter(str(path))
  for item in items:
    writer.write(item)
  writer.commit()
  return str(path)


def test_reads_a_tensorflow_file_with_its_crcs_checked():
  got = list(tfrecord_io.read_records(str(TF_FILE)))
  assert [data for _, data in got] == MORRIS
  # Offsets: 16 bytes of framing around each record.
  sizes = [16 + len(m) for m in MORRIS]
  assert [o for o, _ in got] == [sum(sizes[:i]) for i in range(5)]


def test_writer_reproduces_the_tensorflow_file(tmp_path):
  path = write(tmp_path / "morris.tfrecord", MORRIS)
  assert pathlib.Path(path).read_bytes() == TF_FILE.read_bytes()


def test_masked_crc_closed_form():
  # crc32c("123456789") = 0xE3069283 (the standard check value), then
  # rotated right by 15 bits and offset by 0xA282EAD8.
  crc = 0xE3069283
  want = (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF
  assert tfrecord_io.masked_crc(b"123456789") == want


def damaged(tmp_path, position):
  """MORRIS written, then one byte flipped at `position`."""
  path = write(tmp_path / "bad.tfrecord", MORRIS)
  data = bytearray(pathlib.Path(path).read_bytes())
  data[position] ^= 0x01
  pathlib.Path(path).write_bytes(bytes(data))
  return path


def test_flipped_data_byte_names_file_and_offset(tmp_path):
  third = 17 + 19   # offsets of records: 0, 17, 36, ...
  path = damaged(tmp_path, third + 12)   # first data byte of b"2 1"
  with pytest.raises(tfrecord_io.CorruptRecordError,
                     match=rf"bad.tfrecord: .* offset {third} \(data CRC"):
    list(tfrecord_io.read_records(path))


def test_skip_corrupt_drops_only_the_bad_record_and_counts_it(tmp_path):
  path = damaged(tmp_path, 36 + 12)
  reader = tfrecord_io.RecordReader(path, skip_corrupt=True)
  got = []
  while (item := reader.next()) is not None:
    got.append(item[1])
  assert got == [b"1", b"1 1", b"1 2 1 1", b"1 1 1 2 2 1"]
  assert reader.skipped == 1


def test_flipped_length_byte_loses_the_rest_of_the_file(tmp_path):
  path = damaged(tmp_path, 17)   # the length of the second record
  with pytest.raises(tfrecord_io.CorruptRecordError,
                     match="offset 17 .length CRC"):
    list(tfrecord_io.read_records(path))
  reader = tfrecord_io.RecordReader(path, skip_corrupt=True)
  assert reader.next()[1] == b"1"
  assert reader.next() is None and reader.skipped == 1


def test_truncated_file_is_an_error(tmp_path):
  path = write(tmp_path / "cut.tfrecord", MORRIS)
  size = os.path.getsize(path)
  with open(path, "r+b") as f:
    f.truncate(size - 3)
  with pytest.raises(tfrecord_io.CorruptRecordError, match="past the end"):
    list(tfrecord_io.read_records(path))


def test_records_are_counted_from_their_headers(tmp_path):
  assert tfrecord_io.count_records(str(TF_FILE)) == len(MORRIS)
  empty = write(tmp_path / "empty.tfrecord", [])
  assert tfrecord_io.count_records(empty) == 0
  path = write(tmp_path / "cut.tfrecord", MORRIS)
  with open(path, "r+b") as f:
    f.truncate(os.path.getsize(path) - 3)
  with pytest.raises(tfrecord_io.CorruptRecordError, match="past the end"):
    tfrecord_io.count_records(path)


def test_writer_commits_by_rename_and_abort_leaves_nothing(tmp_path):
  final = tmp_path / "shard.tfrecord"
  writer = tfrecord_io.TFRecordWriter(str(final))
  writer.write(b"x")
  assert not final.exists() and (tmp_path / "shard.tfrecord.tmp").exists()
  writer.abort()
  assert not list(tmp_path.iterdir())
