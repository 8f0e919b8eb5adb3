"""Controller parameters are checked without a model (at config load), through one interface."""

from dataclasses import dataclass

import pytest

from hostsw.errors import ConfigError
from hostsw.precision import CONTROLLERS, check_controller_params
from hostsw.precision.base import PrecisionController
from hostsw.precision.schedules import check_levels


def test_every_controller_accepts_its_own_defaults_without_a_model():
    for name, cls in CONTROLLERS.items():
        assert check_controller_params(name, {}) == cls.defaults


def test_declared_params_class_is_checked_at_load():
    """The mechanism a controller with a parameter dataclass uses (e.g. AdaptParams)."""
    @dataclass
    class Params:
        gamma: float = 0.5

        def validate(self):
            if not 0 <= self.gamma <= 1:
                raise ConfigError(f"toy gamma={self.gamma}: use [0, 1]")

    class Toy(PrecisionController):
        name = "toy"
        defaults = {"gamma": 0.5}
        params_class = Params

    assert Toy.check_params({"gamma": 0.25}) == {"gamma": 0.25}
    with pytest.raises(ConfigError, match="toy gamma=5"):
        Toy.check_params({"gamma": 5})
    with pytest.raises(ConfigError, match="unknown toy controller parameter 'gama' "
                                          r"\(did you mean gamma\?\)"):
        Toy.check_params({"gama": 1})


@pytest.mark.parametrize("levels,pairs,strict,expected", [
    ([8, 12, 16, 32], False, True, [8, 12, 16, 32]),
    ([8, "fp32"], False, True, [8, None]),
    ([[4, 6], [4, 8], [8, 8]], True, False, [(4, 6), (4, 8), (8, 8)]),
])
def test_levels_accepted(levels, pairs, strict, expected):
    assert check_levels("x", levels, pairs, strict, "") == expected


@pytest.mark.parametrize("levels,pairs,strict,match", [
    ([], False, True, "x levels=[]"),
    ("8", False, True, "x levels='8'"),
    ([8, 8], False, True, "must increase strictly"),
    ([16, 8], False, False, "must not decrease"),
    ([[4, 6], [6, 4]], True, False, "levels[1]=[6, 4] is not above levels[0]=[4, 6]"),
    ([[4]], True, False, "levels[0]=[4]: give [forward bits, backward bits]"),
    ([0], False, False, "levels[0]=0: give a bit width 1..32"),
    ([[4, 33]], True, False, "levels[0][1]=33"),
])
def test_levels_refused(levels, pairs, strict, match):
    with pytest.raises(ConfigError) as e:
        check_levels("x", levels, pairs, strict, "")
    assert match in str(e.value)
