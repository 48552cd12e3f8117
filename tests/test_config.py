"""Config loading: overrides replace existing keys only, with the right type."""

import pytest

from clrl.config import ConfigError, load_config, parse_override, resume_config, set_checked, with_added_keys


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


def test_resume_applies_what_may_change_and_refuses_the_rest():
    saved = load_config("cube", overrides=["model.width=32", "train.log_every=5"])
    del saved["walk_regression"]  # a section added to configs/cube.yaml after the run was saved
    asked = load_config("cube", overrides=["train.log_every=10"])
    # only the keys the command line set count: the defaults around them are not asked for
    resumed, changed = resume_config("cube", saved, asked, {"train.log_every"}, source="c.pt")
    assert changed == {"train.log_every": (5, 10)}
    assert resumed["model"]["width"] == 32 and resumed["train"]["log_every"] == 10
    assert resumed["walk_regression"] == load_config("cube")["walk_regression"]
    # a whole config is compared key by key; the section added since is no change
    whole = load_config("cube", overrides=["model.width=32", "train.log_every=5"])
    resumed, changed = resume_config("cube", saved, whole, source="c.pt")
    assert changed == {} and resumed == with_added_keys("cube", saved)
    with pytest.raises(ConfigError, match=r"c\.pt was trained with model\.width=32 \(given 512\)") as refused:
        resume_config("cube", saved, asked, {"train.log_every", "model.width"}, source="c.pt")
    assert "train.lr" in str(refused.value) and "\n" not in str(refused.value)


def test_the_humanoid_may_also_change_its_ppo_section_and_env_count_on_resume():
    saved = load_config("humanoid", overrides=["ppo.n_epochs=2"])
    asked = load_config("humanoid", overrides=["ppo.clip_range=0.1", "train.n_envs=4"])
    resumed, changed = resume_config(
        "humanoid", saved, asked, {"ppo.clip_range", "train.n_envs"}, source="h.pt"
    )
    assert changed == {"ppo.clip_range": (0.2, 0.1), "train.n_envs": (32, 4)}
    assert resumed["ppo"]["n_epochs"] == 2, "a key the command line did not set stays the saved one"
    other_env = load_config("humanoid", overrides=["env.action_clip=1.5"])
    with pytest.raises(ConfigError, match=r"env\.action_clip=2\.0 \(given 1\.5\)") as refused:
        resume_config("humanoid", saved, other_env, None, source="h.pt")
    assert (
        "may change only train.steps, train.precision, train.eval_every, train.checkpoint_every, "
        "train.video_every, ppo.*, train.n_envs" in str(refused.value)
    )
    more_evaluations = load_config(
        "humanoid", overrides=["train.eval_every=200000", "train.eval_episodes=20"]
    )
    given = {"train.eval_every", "train.eval_episodes"}
    _, changed = resume_config("humanoid", saved, more_evaluations, given, source="h.pt")
    assert changed == {"train.eval_every": (1000000, 200000), "train.eval_episodes": (10, 20)}
    with pytest.raises(ConfigError, match=r"train\.n_envs"):  # the cube has no such key of its own
        resume_config("cube", {"train": {"n_envs": 1}}, {"train": {"n_envs": 2}}, source="c.pt")
