"""The height-field contact probe (benchmarks/humanoid_hfield_contacts.py) measures what it says."""

from __future__ import annotations

import pytest
from benchmark_scripts import load_benchmark

probe = load_benchmark("humanoid_hfield_contacts")


def test_a_sunk_sphere_always_touches_and_most_normals_are_the_surfaces():
    per_placement, stray = probe.stray_share(0.01, 0.001, 0.1, 15.0)
    assert per_placement >= 1.0
    assert 0.0 <= stray < 0.5


def test_a_sphere_above_the_slope_touches_nothing():
    per_placement, stray = probe.stray_share(0.01, -0.01, 0.1, 15.0)  # 1 cm above the surface
    assert per_placement == 0.0
    assert stray == 0.0


def test_a_slope_steeper_than_the_field_is_refused():
    with pytest.raises(probe.ConfigError, match="--slope"):
        probe.main(["--slope", "40"])
