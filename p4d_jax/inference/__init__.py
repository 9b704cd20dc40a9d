"""Using trained models: reenactment inputs, the avatar, meshes."""
