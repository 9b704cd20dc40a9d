"""Pure-jnp tri-plane volume rendering: cameras, rays, lookup, sampling, compositing."""
