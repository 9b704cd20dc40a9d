"""Progress lines: the first, the last, and one per multiple of `every`
reached, also when updates come in uneven steps."""

from p4d_jax.progress import Progress


def printed(capsys, total, every, steps):
  bar = Progress(total, "job", every=every)
  for done in steps:
    bar.update(done)
  return [int(line.split()[1].split("/")[0])
          for line in capsys.readouterr().out.splitlines()]


def test_unit_steps_print_first_multiples_and_last(capsys):
  assert printed(capsys, 10, 4, range(1, 11)) == [1, 4, 8, 10]


def test_uneven_steps_print_when_a_multiple_is_passed(capsys):
  # Shards of 7 frames in batches of at most 3: 3, 6, 7, 10, 13, 14.
  assert printed(capsys, 14, 6, [3, 6, 7, 10, 13, 14]) == [3, 6, 13, 14]
