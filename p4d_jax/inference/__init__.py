"""Using trained models: rendering videos, reenactment, video I/O."""
