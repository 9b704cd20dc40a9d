"""Real faces in: detection and landmarks, alignment and crop, head pose as a
camera label, and temporal smoothing (`tools/preprocess.py` drives them)."""
