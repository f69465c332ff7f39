"""The runtime model file: converted once, verified before every load, never left torn.

Unit tests drive :func:`assistant.llm.runtime.prepare` with a fake converter; the
integration tests convert the real bundled GGUF with llama.cpp and load it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from assistant.config import Settings
from assistant.errors import ModelError
from assistant.llm.runtime import BUNDLED_RUNTIME_SHA256, prepare, resolve_kind

SOURCE_SHA = "ab" * 32


class FakeConverter:
    """Writes ``payload`` to the target (optionally failing half-way) and counts calls."""

    def __init__(self, payload: bytes = b"converted weights", fail: bool = False) -> None:
        self.payload = payload
        self.fail = fail
        self.calls = 0

    def __call__(self, source: Path, target: Path, kind: str) -> None:
        self.calls += 1
        target.write_bytes(self.payload[: len(self.payload) // 2])
        if self.fail:
            raise ModelError("llama.cpp could not convert (code 1)")
        target.write_bytes(self.payload)


def _source(tmp_path: Path) -> Path:
    f = tmp_path / "model.Q4_1.gguf"
    f.write_bytes(b"source weights")
    return f


def test_auto_converts_only_the_bundled_model() -> None:
    assert resolve_kind("auto", bundled=True) == "q8_0"
    assert resolve_kind("auto", bundled=False) == "original"
    assert resolve_kind("f16", bundled=False) == "f16"
    assert resolve_kind("original", bundled=True) == "original"
    with pytest.raises(ModelError, match="unknown model_runtime"):
        resolve_kind("q2_k", bundled=True)


def test_original_is_the_source_untouched(tmp_path: Path) -> None:
    conv = FakeConverter()
    got = prepare(_source(tmp_path), SOURCE_SHA, "original", tmp_path / "models", convert=conv)
    assert got.path == tmp_path / "model.Q4_1.gguf" and got.sha256 == SOURCE_SHA
    assert conv.calls == 0 and not (tmp_path / "models").exists()


def test_converts_once_then_reuses_the_verified_file(tmp_path: Path) -> None:
    conv = FakeConverter()
    cache = tmp_path / "models"
    first = prepare(_source(tmp_path), SOURCE_SHA, "q8_0", cache, convert=conv)
    assert first.path.read_bytes() == b"converted weights"
    assert first.sha256 == hashlib.sha256(b"converted weights").hexdigest()
    # the hash recorded at conversion is the reference for a user's GGUF
    record = first.path.with_name(first.path.name + ".sha256")
    assert record.read_text().strip() == first.sha256
    second = prepare(_source(tmp_path), SOURCE_SHA, "q8_0", cache, convert=conv)
    assert second == first and conv.calls == 1
    assert sorted(p.name for p in cache.iterdir()) == [first.path.name, record.name]


def test_a_changed_cached_file_is_converted_again(tmp_path: Path) -> None:
    conv = FakeConverter()
    cache = tmp_path / "models"
    first = prepare(_source(tmp_path), SOURCE_SHA, "q8_0", cache, convert=conv)
    first.path.write_bytes(b"tampered")
    again = prepare(_source(tmp_path), SOURCE_SHA, "q8_0", cache, convert=conv)
    assert conv.calls == 2 and again.path.read_bytes() == b"converted weights"


def test_the_pin_decides_for_the_bundled_model(tmp_path: Path) -> None:
    cache = tmp_path / "models"
    good = hashlib.sha256(b"converted weights").hexdigest()
    got = prepare(
        _source(tmp_path), SOURCE_SHA, "q8_0", cache, pinned=good, convert=FakeConverter()
    )
    assert got.sha256 == good
    assert not list(cache.glob("*.sha256"))  # pinned: nothing recorded beside it
    with pytest.raises(ModelError, match="not the pinned"):
        prepare(
            _source(tmp_path), "cd" * 32, "q8_0", cache, pinned="ef" * 32, convert=FakeConverter()
        )
    assert [p.name for p in cache.iterdir()] == [got.path.name]  # the bad result is gone


def test_a_failed_conversion_leaves_nothing_behind(tmp_path: Path) -> None:
    cache = tmp_path / "models"
    with pytest.raises(ModelError, match="could not convert"):
        prepare(_source(tmp_path), SOURCE_SHA, "q8_0", cache, convert=FakeConverter(fail=True))
    assert list(cache.iterdir()) == []


def test_llm_falls_back_to_the_source_when_conversion_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from assistant.llm import llama as llm_mod

    src = _source(tmp_path)
    settings = Settings(data_dir=tmp_path / "data", model_path=src, model_runtime="q8_0")
    model = llm_mod.LocalLLM(settings)

    def failing(*args: object, **kwargs: object) -> object:
        raise ModelError("llama.cpp could not convert (code 1)")

    monkeypatch.setattr(llm_mod, "prepare", failing)
    runtime = model.runtime_file()
    assert runtime.path == src and runtime.kind == "original"
    assert "as is (llama.cpp could not convert" in model.runtime_note


# --- the real thing ------------------------------------------------------------------------------


@pytest.mark.integration
def test_bundled_model_converts_to_the_pinned_q8_0_and_generates(tmp_path: Path) -> None:
    from assistant.llm.llama import LocalLLM

    model = LocalLLM(Settings(data_dir=tmp_path / "data"))
    assert model.runtime_kind == "q8_0"
    model.load()
    assert model.runtime is not None
    assert model.runtime.kind == "q8_0"
    assert model.runtime.path.parent == tmp_path / "data" / "models"
    assert model.runtime.sha256 == BUNDLED_RUNTIME_SHA256["q8_0"]
    gen = model.generate([{"role": "user", "content": "Say hello."}], max_tokens=8)
    assert gen.completion_tokens >= 1 and gen.text.strip()
    model.close()
    # a second process-equivalent load reuses the verified file (no new conversion)
    mtime = model.runtime.path.stat().st_mtime_ns
    again = LocalLLM(Settings(data_dir=tmp_path / "data"))
    again.load()
    assert again.runtime is not None and again.runtime.path.stat().st_mtime_ns == mtime
    again.close()
