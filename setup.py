"""p4d_jax: a JAX/Flax reimplementation of Portrait4D-v2 (one-shot 4D head avatars)."""

import setuptools

# Versions that resolve together on Python 3.11 (see the project's dependency notes).
CORE = [
    "jax==0.10.2",
    "jaxlib==0.10.2",
    "flax==0.12.8",
    "optax==0.2.8",
    "orbax-checkpoint==0.12.8",
    "grain==0.2.18",
    "array-record==0.8.6",
    "einops==0.8.2",
    "tensorflow-datasets==4.9.10",
    # TFDS needs it to build data sets whose builder lives in a package.
    "importlib_resources==7.1.0",
    "ml-collections==1.1.0",
    "clu==0.0.12",
    "imageio==2.38.1",
    "imageio-ffmpeg==0.8.1",
    "numpy==2.4.6",
    "pillow==13.0.0",
    "protobuf==7.36.2",
    "crc32c==2.9.post0",
    "tensorboardX==2.6.5",
    "tensorboard==2.21.0",
    "absl-py",
    # A faster allocator for XLA:CPU's large per-call temporaries (preloaded by
    # launch/env.sh); about 2x on the renderer's forward+backward here.
    "cmeel-mimalloc==3.4.3; sys_platform == 'linux'",
]

# Real-face preprocessing and face metrics; dlib-bin is a wheel (never the dlib sdist).
FACE = [
    "scikit-image==0.26.0",
    "dlib-bin==20.0.1.post1",
    "face-recognition-models==0.3.0",
    "opencv-python-headless==4.14.0.94",
]

EXTRAS = {
    # clu.metric_writers / periodic_actions import TensorFlow at import time.
    "tf": ["tensorflow-cpu==2.21.0"],
    "face": FACE,
    # The tests cover the face preprocessing too.
    # pytest-xdist: launch/test.sh runs the suite in one process per core.
    "test": ["pytest>=8", "pytest-xdist==3.8.0", "scipy"] + FACE,
}

setuptools.setup(
    name="p4d_jax",
    version="0.1.0",
    description="One-shot 4D head avatars (Portrait4D-v2) in JAX/Flax",
    # configs/ and tools/ are installed too, so that tools run as scripts
    # (`python tools/reenact.py`) import them without touching sys.path.
    packages=setuptools.find_packages(
        include=["p4d_jax", "p4d_jax.*", "configs", "tools"]),
    python_requires=">=3.11",
    install_requires=CORE,
    extras_require=EXTRAS,
)
