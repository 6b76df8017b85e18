"""Weights & Biases in offline mode (no network): a tracked run logs, per member, the same
scalars, config and final hparams as its TensorBoard runs. The offline run files are read back
record by record (LevelDB's log format, as W&B writes it)."""

import json
import struct

import pytest
from tensorboard.backend.event_processing.event_accumulator import SCALARS, EventAccumulator

import jaxrl

wandb_pb = pytest.importorskip("wandb.proto.wandb_internal_pb2")

BLOCK = 32 * 1024
HEADER = 7  # ":W&B", a 2-byte magic, a version byte


def records(path):
    """The protobuf Records of a .wandb file: LevelDB log blocks of 32 KiB, each record a 7-byte
    header (crc32c, little-endian length, type: 1 full, 2 first, 3 middle, 4 last) and its data."""
    data = path.read_bytes()
    assert data[:4] == b":W&B"
    offset, pending = HEADER, b""
    while offset + 7 <= len(data):
        if BLOCK - offset % BLOCK < 7:  # a block's tail too short for a header is padding
            offset += BLOCK - offset % BLOCK
            continue
        length, kind = struct.unpack_from("<HB", data, offset + 4)
        chunk = data[offset + 7 : offset + 7 + length]
        offset += 7 + length
        if kind == 0 and length == 0:
            continue
        pending += chunk
        if kind in (1, 4):
            record = wandb_pb.Record()
            record.ParseFromString(pending)
            yield record
            pending = b""


def logged(path) -> tuple[dict, dict, dict]:
    """(config, {tag: {env_step: value}}, summary) of one offline W&B run."""
    config, history, summary = {}, {}, {}
    for record in records(path):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            config.update({item.key: json.loads(item.value_json) for item in record.run.config.update})
        elif kind == "config":
            config.update({item.key: json.loads(item.value_json) for item in record.config.update})
        elif kind == "history":
            row = {item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in record.history.item}
            for tag, value in row.items():
                if tag not in ("env_step", "_step", "_runtime", "_timestamp"):
                    history.setdefault(tag, {})[row["env_step"]] = value
        elif kind == "summary":
            summary.update({item.key: json.loads(item.value_json) for item in record.summary.update})
    return config, history, summary


@pytest.mark.slow
def test_an_offline_wandb_run_logs_what_tensorboard_logs(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    result = jaxrl.train(
        "ppo", seeds=2, total_steps=2560, log_every=1280, logdir=str(tmp_path), name="wb", track=True,
        wandb_project="jaxrl-test",
    )  # fmt: skip
    files = sorted(result.run_dir.glob("wandb/offline-run-*/run-*.wandb"))
    assert len(files) == 2, files  # one W&B run per member
    for member, path in zip(("s0", "s1"), files, strict=True):
        assert path.name.endswith(f"-{member}.wandb")
        config, history, summary = logged(path)
        # lr: EnvPool CartPole's preset (jaxrl/presets/ppo.toml ["envpool:CartPole-v1"])
        assert config["algo"] == "ppo" and config["member"] == member and config["hyper"]["lr"] == 3e-3
        assert config["hparams"]["seed"] == int(member[1:])
        events = EventAccumulator(str(result.run_dir / member), size_guidance={SCALARS: 0}).Reload()
        for tag in events.Tags()[SCALARS]:
            board = {event.step: event.value for event in events.Scalars(tag)}
            if tag == "charts/SPS":  # a rate of the wall-clock: logged at the same steps, not the same value
                assert set(history[tag]) == set(board)
                continue
            assert history[tag] == pytest.approx(board, rel=1e-6), tag
        assert set(history) == set(events.Tags()[SCALARS])
        assert summary["hparams/final_return"] == pytest.approx(history["hparams/final_return"][2560])


def test_tracking_without_wandb_installed_is_one_line_before_anything_runs(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def without_wandb(name, *args, **kwargs):
        if name == "wandb" or name.startswith("wandb."):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without_wandb)
    monkeypatch.delitem(__import__("sys").modules, "wandb", raising=False)
    with pytest.raises(jaxrl.ConfigError, match=r"--track True needs Weights & Biases: pip install 'jaxrl\[wandb\]'"):
        jaxrl.train("ppo", total_steps=2560, logdir=str(tmp_path), track=True)
    assert not (tmp_path / "CartPole-v1").exists()
