"""Shared test configuration: hypothesis profiles and optional-dependency markers."""
import os

import pytest
from hypothesis import HealthCheck, settings

# deadline=None: the first call of a Numba kernel compiles it, which would trip any deadline.
settings.register_profile(
    "default", deadline=None, max_examples=25, suppress_health_check=[HealthCheck.too_slow]
)
# Pure-Python execution (NUMBA_DISABLE_JIT=1) is ~100x slower: fewer examples.
settings.register_profile(
    "nojit", deadline=None, max_examples=5, suppress_health_check=[HealthCheck.too_slow]
)
_jit_disabled = os.environ.get("NUMBA_DISABLE_JIT", "0") not in ("", "0")
settings.load_profile(os.environ.get("DECONVLAB_HYPOTHESIS_PROFILE", "nojit" if _jit_disabled else "default"))


@pytest.fixture(scope="session")
def tiny_model():
    """A tiny untrained InpaintNet (width 4, mean-colour start, ``train.TrainConfig`` defaults otherwise), in
    eval mode: the geometry of inpainting (padding, tiling, pasting back, coarse to fine, input checks) does
    not depend on training."""
    from deconvlab import train

    net = train.build_model(train.TrainConfig(width=4, start="mean"))
    net.eval()
    return net
