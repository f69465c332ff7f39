"""Settings: defaults, then TOML, then ASSISTANT_* variables, then CLI flags; unknown keys fail."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.cli import main
from assistant.config import CONNECTION_SETTINGS, Settings, load_settings
from assistant.errors import UsageError


def test_defaults(isolated_env: Path) -> None:
    s = load_settings()
    assert s.data_dir == isolated_env  # from ASSISTANT_DATA_DIR, set by the autouse fixture
    assert s.config_file is None
    assert (s.top_k, s.chunk_tokens, s.chunk_overlap, s.relevance_floor) == (3, 96, 16, 0.35)
    assert (s.collection, s.host, s.port, s.n_ctx) == ("papers", "127.0.0.1", 7860, 2048)
    assert s.store_dir == isolated_env / "chroma"


def test_default_data_dir_is_platform_user_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ASSISTANT_DATA_DIR")
    assert load_settings().data_dir.name == "paper-assistant"


def test_env_overrides_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSISTANT_TOP_K", "8")
    monkeypatch.setenv("ASSISTANT_RELEVANCE_FLOOR", "0.5")
    s = load_settings()
    assert (s.top_k, s.relevance_floor) == (8, 0.5)


def test_toml_file_overrides_default(tmp_path: Path) -> None:
    cfg = tmp_path / "cfg.toml"
    cfg.write_text('top_k = 7\ncollection = "mine"\n')
    s = load_settings(cfg)
    assert (s.top_k, s.collection, s.config_file) == (7, "mine", cfg)


def test_toml_file_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "cfg.toml"
    cfg.write_text("n_ctx = 4096\n")
    monkeypatch.setenv("ASSISTANT_CONFIG_FILE", str(cfg))
    assert load_settings().n_ctx == 4096
    assert Settings().n_ctx == 4096


def test_precedence_cli_over_env_over_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "cfg.toml"
    cfg.write_text("top_k = 7\nn_ctx = 4096\nport = 9000\n")
    monkeypatch.setenv("ASSISTANT_TOP_K", "9")
    monkeypatch.setenv("ASSISTANT_PORT", "9001")
    s = load_settings(cfg, top_k=3, port=None)  # None means "flag not given"
    assert (s.top_k, s.port, s.n_ctx) == (3, 9001, 4096)


def test_extra_key_in_toml_rejected(tmp_path: Path) -> None:
    cfg = tmp_path / "cfg.toml"
    cfg.write_text("top_k = 5\nbogus_knob = 1\n")
    with pytest.raises(UsageError, match="bogus_knob"):
        load_settings(cfg)


def test_extra_key_as_override_rejected() -> None:
    with pytest.raises(UsageError, match="bogus_knob"):
        load_settings(bogus_knob=1)


def test_invalid_value_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSISTANT_TOP_K", "0")
    with pytest.raises(UsageError, match="top_k"):
        load_settings()


def test_malformed_toml_is_a_usage_error(tmp_path: Path) -> None:
    cfg = tmp_path / "cfg.toml"
    cfg.write_text("top_k = = 5\n")
    with pytest.raises(UsageError):
        load_settings(cfg)


def test_missing_config_file_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(UsageError, match="nope.toml"):
        load_settings(missing)
    monkeypatch.setenv("ASSISTANT_CONFIG_FILE", str(missing))
    with pytest.raises(UsageError, match="nope.toml"):
        load_settings()


def test_config_json_command(
    isolated_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["config", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["data_dir"] == str(isolated_env)
    assert data["top_k"] == 3
    assert set(data) == set(Settings.model_fields)

    other = tmp_path / "elsewhere"
    assert main(["config", "--json", "--data-dir", str(other)]) == 0
    assert json.loads(capsys.readouterr().out)["data_dir"] == str(other)


def test_config_command_hides_auth(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ASSISTANT_AUTH", "me:secret")
    assert main(["config", "--json"]) == 0
    out = capsys.readouterr().out
    assert "secret" not in out
    assert json.loads(out)["auth"] == "***"


def test_config_command_bad_file_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "cfg.toml"
    cfg.write_text("bogus_knob = 1\n")
    assert main(["config", "--json", "--config", str(cfg)]) == 2
    err = json.loads(capsys.readouterr().out)
    assert err["type"] == "UsageError" and "bogus_knob" in err["error"]


def test_chroma_timeout_from_env_shows_in_config_json(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert load_settings().chroma_timeout_s == 30.0
    monkeypatch.setenv("ASSISTANT_CHROMA_TIMEOUT_S", "2.5")
    assert load_settings().chroma_timeout_s == 2.5
    assert main(["config", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["chroma_timeout_s"] == 2.5
    # how to reach the server, not an output knob: kept out of the provenance fingerprint
    assert "chroma_timeout_s" in CONNECTION_SETTINGS
    assert load_settings().fingerprint() == load_settings(chroma_timeout_s=9.0).fingerprint()
    monkeypatch.setenv("ASSISTANT_CHROMA_TIMEOUT_S", "0")
    with pytest.raises(UsageError, match="chroma_timeout_s"):
        load_settings()
