"""Audio: the front end that turns speech into features (pure jnp)."""
