"""TFRecord files without TensorFlow: CRC-checked reads and atomic writes.

A TFRecord file is a sequence of records, each framed as

    uint64 length | uint32 masked_crc32c(length) | data | uint32 masked_crc32c(data)

(little-endian). grain's own reader skips both CRCs, so a flipped bit would
reach training silently; `read_records` and `TFRecordShard` check them and
raise `CorruptRecordError` naming the file and the byte offset, or, with
`skip_corrupt`, skip the record and count it. `RecordReader` can seek, so
a reader built on it checkpoints as a byte offset.

Writers go to `<path>.tmp` and are renamed onto `path` only by `commit()`:
a killed job never leaves a half-written file under the final name.
"""

from __future__ import annotations

import os
import struct
from typing import Iterator

import crc32c

from p4d_jax.media import atomic
from p4d_jax.user_errors import UserError

_HEADER = struct.Struct("<QI")   # length, masked crc of the length
_FOOTER = struct.Struct("<I")    # masked crc of the data


def masked_crc(data: bytes) -> int:
  """TFRecord's CRC: crc32c rotated right by 15 bits plus a constant."""
  crc = crc32c.crc32c(data)
  return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def frame(data: bytes) -> bytes:
  """One record's bytes as stored in the file."""
  length = struct.pack("<Q", len(data))
  return (length + struct.pack("<I", masked_crc(length)) + data +
          _FOOTER.pack(masked_crc(data)))


class CorruptRecordError(UserError):
  """A record whose framing or CRC is wrong; names the file and offset."""

  def __init__(self, path: str, offset: int, what: str):
    self.path, self.offset = path, offset
    super().__init__(
        f"{path}: corrupt TFRecord at byte offset {offset} ({what}). The file "
        "is damaged: regenerate it, or read with skip_corrupt=True to skip "
        "bad records (they are counted).")


class TFRecordWriter:
  """Appends records to `<path>.tmp`; `commit()` renames it onto `path`.

  The temp name is fixed (not `atomic.temp_beside`'s unique one) so that a
  rerun after a kill overwrites the leftover rather than adding another."""

  def __init__(self, path: str):
    self.path = path
    self.tmp_path = path + ".tmp"
    self._file = open(self.tmp_path, "wb")
    self.records = 0

  def write(self, data: bytes) -> None:
    self._file.write(frame(data))
    self.records += 1

  def commit(self) -> None:
    self._file.close()
    atomic.commit(self.tmp_path, self.path)

  def abort(self) -> None:
    self._file.close()
    atomic.discard(self.tmp_path)


class RecordReader:
  """Reads records of one file in order, checking both CRCs; seekable."""

  def __init__(self, path: str, skip_corrupt: bool):
    self.path = path
    self.skip_corrupt = skip_corrupt
    self.file = open(path, "rb")
    self.size = os.fstat(self.file.fileno()).st_size
    self.skipped = 0   # corrupt records skipped so far

  def close(self):
    self.file.close()

  def seek(self, offset: int) -> None:
    self.file.seek(offset)

  def tell(self) -> int:
    return self.file.tell()

  def next_length(self) -> int | None:
    """Reads the next record's header and returns its data length (None at
    the end of the file), its framing checked; the file is left at the
    data."""
    offset = self.file.tell()
    header = self.file.read(_HEADER.size)
    if not header:
      return None
    if len(header) < _HEADER.size:
      raise CorruptRecordError(self.path, offset, "truncated header")
    length, length_crc = _HEADER.unpack(header)
    if masked_crc(header[:8]) != length_crc:
      raise CorruptRecordError(self.path, offset, "length CRC mismatch")
    if offset + _HEADER.size + length + _FOOTER.size > self.size:
      raise CorruptRecordError(
          self.path, offset, f"record of {length} bytes runs past the "
          f"end of the {self.size}-byte file")
    return length

  def next(self) -> tuple[int, bytes] | None:
    """(offset, data) of the next good record; None at the end of the file.

    A bad data CRC skips one record (with skip_corrupt). A bad length CRC or a
    truncated record leaves no trustworthy boundary, so it skips the rest of
    the file, counted as one record.
    """
    while True:
      offset = self.file.tell()
      try:
        length = self.next_length()
      except CorruptRecordError:
        if not self.skip_corrupt:
          raise
        self.skipped += 1
        self.file.seek(self.size)
        return None
      if length is None:
        return None
      data = self.file.read(length)
      (data_crc,) = _FOOTER.unpack(self.file.read(_FOOTER.size))
      if masked_crc(data) == data_crc:
        return offset, data
      if not self.skip_corrupt:
        raise CorruptRecordError(self.path, offset, "data CRC mismatch")
      self.skipped += 1


def read_records(path: str, skip_corrupt: bool = False
                 ) -> Iterator[tuple[int, bytes]]:
  """Yields (byte offset, data) for every record of `path`, CRCs checked."""
  reader = RecordReader(path, skip_corrupt)
  try:
    while (item := reader.next()) is not None:
      yield item
  finally:
    reader.close()


def count_records(path: str) -> int:
  """How many records `path` holds, from their headers alone (one seek
  each; the framing is checked, the data CRCs are not)."""
  reader = RecordReader(path, skip_corrupt=False)
  count = 0
  try:
    while (length := reader.next_length()) is not None:
      reader.seek(reader.tell() + length + _FOOTER.size)
      count += 1
  finally:
    reader.close()
  return count
