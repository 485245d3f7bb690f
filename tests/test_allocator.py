"""deconvlab._allocator: glibc's malloc keeps large freed blocks, unless DECONVLAB_MALLOC=0."""
import os
import subprocess
import sys

import pytest

from deconvlab import _allocator

LINUX = sys.platform.startswith("linux")

FAULTS = """
import resource, sys
import numpy as np
import deconvlab
print(deconvlab._allocator.tune() if sys.argv[1] != "0" else "off")


def step():  # a few arrays of 1-5 MB alive together, freed together, like a layer's activations
    held = [np.ones(size) for size in (1 << 17, 3 << 17, 1 << 19, 5 << 17)]
    for a in held:
        a += 1


for _ in range(3):
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    step()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def faults(setting):
    env = dict(os.environ, DECONVLAB_MALLOC=setting)
    done = subprocess.run([sys.executable, "-c", FAULTS, setting], env=env, capture_output=True, text=True,
                          check=True)
    tuned, count = done.stdout.split()
    return tuned, int(count)


@pytest.mark.skipif(not LINUX, reason="glibc's mallopt is Linux-only")
def test_large_arrays_allocated_again_and_again_stop_faulting_in_fresh_pages():
    tuned, tuned_faults = faults("1")
    if tuned != "True":
        pytest.skip("no glibc mallopt here")
    _, plain_faults = faults("0")
    # 20 steps of 13 MB: about 3 300 page faults a step when each array is a fresh mmap, none when reused
    assert plain_faults > 20_000
    assert tuned_faults < plain_faults / 100


def test_the_environment_variable_turns_it_off(monkeypatch):
    monkeypatch.setenv("DECONVLAB_MALLOC", "0")
    assert _allocator.tune() is False


def test_it_never_raises_and_says_whether_it_acted(monkeypatch):
    monkeypatch.delenv("DECONVLAB_MALLOC", raising=False)
    assert _allocator.tune() in (True, False)
