"""p4d_jax: one-shot 4D head avatars (Portrait4D-v2) in JAX/Flax."""

__version__ = "0.1.0"
