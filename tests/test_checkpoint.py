"""Checkpoints round-trip, are written atomically, and refuse corrupt or mismatched files."""

import pytest
import torch

from clrl.checkpoint import CheckpointError, export_checkpoint, load_checkpoint, save_checkpoint


def make_state():
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    return {"model": model.state_dict(), "rng": torch.get_rng_state()}


def test_round_trip(tmp_path):
    path = tmp_path / "ckpt.pt"
    config = {"model": {"width": 8}, "seed": 1}
    save_checkpoint(path, job="cube", step=42, config=config, state=make_state())
    loaded = load_checkpoint(path, job="cube", expected_config=config)
    assert loaded.step == 42 and loaded.config == config and loaded.job == "cube"
    for key, value in make_state()["model"].items():
        assert torch.equal(loaded.state["model"][key], value)
    assert list(tmp_path.iterdir()) == [path], "no temporary file may be left behind"


def test_corrupt_file_is_refused_and_old_one_survives_failed_save(tmp_path):
    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, job="cube", step=1, config={}, state=make_state())
    good = path.read_bytes()
    with pytest.raises(Exception, match="pickle"):  # an unpicklable state fails mid-save
        save_checkpoint(path, job="cube", step=2, config={}, state={"bad": lambda: 0})
    assert path.read_bytes() == good
    path.write_bytes(good[: len(good) // 2])
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(path)


def test_mismatches_are_refused(tmp_path):
    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, job="cube", step=1, config={"model": {"width": 8}}, state=make_state())
    with pytest.raises(CheckpointError, match="trained for 'cube', not 'sokoban'"):
        load_checkpoint(path, job="sokoban")
    with pytest.raises(CheckpointError, match="model.width: checkpoint has 8, config asks for 16"):
        load_checkpoint(path, expected_config={"model": {"width": 16}})
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")
    (tmp_path / "text.pt").write_text("hello")
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "text.pt")


def test_export_keeps_only_the_named_state(tmp_path):
    source, shipped = tmp_path / "train.pt", tmp_path / "ship.pt"
    save_checkpoint(source, job="cube", step=9, config={"a": 1}, state=make_state())
    export_checkpoint(source, shipped, keep=("model",))
    loaded = load_checkpoint(shipped, job="cube")
    assert set(loaded.state) == {"model"} and loaded.step == 9 and loaded.config == {"a": 1}
    with pytest.raises(CheckpointError, match="no optimizer"):
        export_checkpoint(source, shipped, keep=("optimizer",))


def test_the_digest_covers_the_state_and_leaves_the_metadata_editable(tmp_path):
    """Any changed number of the state is caught; a config key added by hand (what loading an older
    release's file does in memory) is not damage."""
    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, job="cube", step=1, config={"model": {"width": 8}}, state=make_state())
    payload = torch.load(path, weights_only=True)
    assert payload["digest"].startswith("sha256:")
    payload["config"]["model"]["blocks"] = 2
    torch.save(payload, path)
    assert load_checkpoint(path).config["model"] == {"width": 8, "blocks": 2}
    payload["state"]["model"]["bias"][0] += 1e-6
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="is damaged"):
        load_checkpoint(path)
