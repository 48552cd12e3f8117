"""Config loading: overrides replace existing keys only, with the right type."""

import pytest

from clrl.config import ConfigError, load_config, parse_override, set_checked


@pytest.fixture
def config():
    return {"seed": 0, "train": {"lr": 3e-4, "steps": 100, "name": "a", "flag": True}, "extra": None}


def test_override_nested_key_keeps_type(config):
    set_checked(config, "train.lr", 1, "test")
    assert config["train"]["lr"] == 1.0 and isinstance(config["train"]["lr"], float)
    set_checked(config, "train.steps", 7, "test")
    assert config["train"]["steps"] == 7


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("train.lrr", 1.0, "unknown config key 'train.lrr'"),
        ("nope", 1, "unknown config key 'nope'"),
        ("train.steps", 1.5, "expects int"),
        ("train.flag", 1, "expects bool"),
        ("train.steps", "many", "expects int"),
        ("train", 3, "is a section"),
    ],
)
def test_bad_override_is_a_config_error(config, key, value, message):
    with pytest.raises(ConfigError, match=message):
        set_checked(config, key, value, "test")


def test_null_default_accepts_any_value(config):
    set_checked(config, "extra", [1, 2], "test")
    assert config["extra"] == [1, 2]


def test_parse_override_reads_yaml_scalars():
    assert parse_override("a.b=3e-4") == ("a.b", 3e-4)
    assert parse_override("flag=false") == ("flag", False)
    assert parse_override("name=resmlp") == ("name", "resmlp")
    with pytest.raises(ConfigError, match="key=value"):
        parse_override("noequals")


@pytest.mark.parametrize("job", ["cube", "sokoban", "humanoid", "vision"])
def test_every_job_config_loads(job):
    config = load_config(job)
    assert "seed" in config


def test_config_file_override_is_checked(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  no_such_key: 1\n")
    with pytest.raises(ConfigError, match="no_such_key"):
        load_config("cube", bad)
    broken = tmp_path / "broken.yaml"
    broken.write_text("train: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config("cube", broken)
