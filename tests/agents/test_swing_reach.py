"""The swing-reach benchmark: how high the action range lets a foot lift, by kinematics alone."""

from __future__ import annotations

import numpy as np
import pytest
from benchmark_scripts import load_benchmark

from clrl.config import load_config
from clrl.envs.humanoid import HumanoidEnv

reach = load_benchmark("humanoid_swing_reach")


@pytest.fixture(scope="module")
def env():
    env = HumanoidEnv(load_config("humanoid")["env"])
    yield env
    env.close()


def test_no_reach_no_lift(env):
    assert reach.lift_profile(env, 0.0, 5, [0.0]) == [pytest.approx(0.0, abs=1e-12)]


def test_lift_grows_with_reach_and_a_foot_ahead_lifts_no_higher(env):
    narrow, wide = (reach.lift_profile(env, r, 7, [0.0, 0.2]) for r in (0.25, 0.5))
    assert 0.0 < narrow[0] < wide[0]
    assert wide[1] <= wide[0]


def test_the_g1s_default_clip_lifts_a_sole_about_ten_centimetres(env):
    """With 0.25 rad per unit action clipped at 2, hip pitch, knee and ankle pitch reach 0.5 rad:
    the sole rises about 10 cm, short of a 10 cm riser plus any clearance (docs/humanoid.md)."""
    (lift,) = reach.lift_profile(env, 0.25 * 2.0, 11, [0.0])
    assert 0.08 < lift < 0.105
    assert np.isnan(reach.lift_profile(env, 0.5, 5, [5.0])[0])  # no pose puts the foot 5 m ahead
