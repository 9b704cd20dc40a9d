"""Media in and out: image and video codecs, [-1, 1] <-> uint8, depth colours
and atomic writers. Only numpy, PIL and imageio: no JAX, no other floor."""
