"""One Settings object for every knob.

Precedence (highest first): CLI flags (passed as keyword overrides), environment variables
prefixed ``ASSISTANT_``, an optional TOML file, then the defaults below. This is the only module
that reads the environment.

The answer and TL;DR pipelines do not take Settings whole: they take :class:`AnswerConfig` and
:class:`TldrConfig`, views built from it by :meth:`Settings.answer_config` /
:meth:`Settings.tldr_config`. Their defaults are read from the fields below, so every default
and every choice list is written once, here.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Literal, get_args

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

APP_NAME = "paper-assistant"

# The choice lists, once: Settings validates against them, the adapters and the CLI read them.
ModelRuntime = Literal["auto", "original", "q8_0", "f16"]
EmbedderRuntime = Literal["auto", "onnx", "numpy"]
MODEL_RUNTIMES: tuple[str, ...] = get_args(ModelRuntime)
EMBEDDER_RUNTIMES: tuple[str, ...] = get_args(EmbedderRuntime)


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def default_config_file() -> Path:
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)) / "config.toml"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ASSISTANT_", extra="forbid")

    # where things live
    data_dir: Path = Field(default_factory=default_data_dir, description="Store, TL;DRs, locks.")
    collection: str = Field("papers", min_length=3, description="Chroma collection name.")

    # the language model
    model_path: Path | None = Field(
        None, description="GGUF file to use; empty means the bundled SmolLM2-135M-Instruct."
    )
    model_sha256: str | None = Field(
        None, description="Expected sha256 of model_path; the bundled model's is always pinned."
    )
    model_runtime: ModelRuntime = Field(
        "auto",
        description="Weight encoding the model runs in: 'auto' re-encodes the bundled Q4_1 model "
        "as Q8_0 once (same weights, faster CPU kernels) and runs other GGUFs as they are; "
        "'original' never converts; 'q8_0'/'f16' convert any GGUF once into <data_dir>/models.",
    )
    flash_attn: bool = Field(True, description="llama.cpp flash attention (faster prefill).")
    n_ctx: int = Field(2048, ge=256, le=131072, description="Context window in tokens.")
    n_threads: int | None = Field(None, ge=1, description="Threads; default from CPU affinity.")
    n_batch: int = Field(512, ge=8, description="Prompt-processing batch size in tokens.")
    answer_max_tokens: int = Field(160, ge=8, le=4096, description="Cap on answer tokens.")
    tldr_max_tokens: int = Field(60, ge=8, le=512, description="Cap on TL;DR tokens.")
    temperature: float = Field(0.0, ge=0.0, le=2.0, description="Sampling temperature.")
    seed: int = Field(1234, description="Sampling seed, for repeatable retries.")
    queue_size: int = Field(8, ge=1, description="Model calls allowed to wait before 'busy'.")

    # embedding and chunking
    embed_batch_size: int = Field(32, ge=1, description="Texts per embedder forward pass.")
    embedder_runtime: EmbedderRuntime = Field(
        "auto",
        description="Where the embedder's encoder runs: 'onnx' (onnxruntime, from a graph written "
        "once into <data_dir>/models; ~1.6x faster), 'numpy', or 'auto' (onnx, else numpy).",
    )
    chunk_tokens: int = Field(96, ge=16, le=250, description="Chunk size in embedder tokens.")
    chunk_overlap: int = Field(16, ge=0, le=128, description="Chunk overlap in embedder tokens.")

    # retrieval
    # 3, not 5: the full qa eval held every gated metric with a third less prefill
    # (docs/PERFORMANCE.md, "Answer latency").
    top_k: int = Field(3, ge=1, le=50, description="Papers passed to the model per question.")
    candidates: int = Field(30, ge=1, le=500, description="Chunks fetched per retriever.")
    rrf_k: int = Field(60, ge=1, description="Reciprocal-rank-fusion constant.")
    relevance_floor: float = Field(
        0.35, ge=-1.0, le=1.0, description="Best dense cosine below this: abstain, no model call."
    )

    # grounding
    support_threshold: float = Field(
        0.6, ge=0.0, le=1.0, description="Sentence support score needed to show a sentence."
    )
    tldr_max_words: int = Field(30, ge=5, le=100, description="Longest TL;DR, in words.")
    tldr_attempts: int = Field(3, ge=1, le=10, description="Generated candidates per TL;DR.")
    tldr_source_tokens: int = Field(
        224,
        ge=0,
        description="The model reads at most this many tokens of each abstract for its TL;DR: "
        "the first sentence, then the sentences that state the contribution, then the rest, "
        "while they fit (prefill is most of a TL;DR's cost; the sample's abstracts average "
        "312 tokens). The check always uses the whole abstract. 0 reads it all (slower; "
        "docs/PERFORMANCE.md has both).",
    )

    # UI
    host: str = Field("127.0.0.1", description="UI bind address; non-loopback needs auth.")
    port: int = Field(7860, ge=0, le=65535, description="UI port (0 picks a free one).")
    auth: str | None = Field(None, description="'user:password' for the UI (needed off-loopback).")
    max_upload_mb: int = Field(20, ge=1, description="Largest file the UI accepts.")

    max_input_mb: int = Field(64, ge=1, description="Largest input file ingest will read.")

    # servers (docs/DEPLOY.md); unset means the embedded store and the in-process model
    chroma_url: str | None = Field(
        None,
        description="A Chroma server (http://host:port) as the store instead of <data_dir>/chroma; "
        "several processes can then use it at once.",
    )
    chroma_token: SecretStr | None = Field(None, description="Token for a Chroma server's auth.")
    chroma_timeout_s: float = Field(
        30.0,
        gt=0,
        le=3600,
        description="Longest wait for the Chroma server to answer one request (connecting "
        "included) before the command fails; only used with chroma_url.",
    )
    llm_base_url: str | None = Field(
        None,
        description="An OpenAI-compatible server (http://host:port/v1: llama.cpp, "
        "llama-cpp-python, vLLM, Ollama) writes the text instead of the in-process model.",
    )
    llm_model: str | None = Field(
        None, description="Model name sent to the server; default: the first it lists."
    )
    llm_api_key: SecretStr | None = Field(
        None, description="Bearer key for the model server (never printed or logged)."
    )
    llm_timeout_s: float = Field(
        60.0,
        gt=0,
        le=3600,
        description="Longest wait for the model server's next output (the first token "
        "included) before the call fails.",
    )
    llm_openai_strict: bool = Field(
        False,
        description="Send only OpenAI API fields: no llama.cpp sampler fields (top_k, min_p, "
        "repeat_penalty), at most 4 stop strings (the rest are applied here).",
    )
    model_slots: int = Field(
        1,
        ge=1,
        le=64,
        description="Model calls in flight at once with llm_base_url (UI events, TL;DR "
        "batches); the in-process model always runs one.",
    )

    config_file: Path | None = Field(None, description="TOML file these settings were read from.")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        explicit = getattr(init_settings, "init_kwargs", {}).get("config_file")
        toml_file = Path(explicit) if explicit else _toml_path()
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)

    @field_validator("chroma_url", "llm_base_url", "llm_model", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        """``ASSISTANT_CHROMA_URL=`` (empty) means no server, not a URL."""
        return value.strip() or None if isinstance(value, str) else value

    @field_validator("chroma_url", "llm_base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} is not an http:// or https:// URL")
        return value.rstrip("/") if value is not None else None

    @property
    def store_dir(self) -> Path:
        return self.data_dir / "chroma"

    @property
    def tldr_file(self) -> Path:
        return self.data_dir / "tldrs.jsonl"

    def answer_config(self, provenance: dict[str, str] | None = None) -> AnswerConfig:
        return AnswerConfig(
            max_tokens=self.answer_max_tokens,
            temperature=self.temperature,
            seed=self.seed,
            support_threshold=self.support_threshold,
            provenance=provenance or {},
        )

    def tldr_config(self, provenance: dict[str, str] | None = None) -> TldrConfig:
        return TldrConfig(
            max_words=self.tldr_max_words,
            max_tokens=self.tldr_max_tokens,
            attempts=self.tldr_attempts,
            source_tokens=self.tldr_source_tokens or None,  # 0: the whole abstract
            threshold=self.support_threshold,
            seed=self.seed,
            provenance=provenance or {},
        )

    def fingerprint(self) -> str:
        """Hash of the knobs that change outputs; goes into provenance."""
        keys = sorted(
            k
            for k in type(self).model_fields
            if k not in {"data_dir", "config_file", "host", "port", "auth", "queue_size"}
            and k not in CONNECTION_SETTINGS
        )
        blob = repr([(k, getattr(self, k)) for k in keys]).encode()
        return hashlib.sha256(blob).hexdigest()[:12]


# Where the servers are and how to reach them: not outputs, so not in the fingerprint (a key
# must never reach provenance, and UI replicas reaching one server by different URLs share
# TL;DRs); the server's model name is in provenance already.
CONNECTION_SETTINGS = frozenset(
    {
        "chroma_url",
        "chroma_token",
        "chroma_timeout_s",
        "llm_base_url",
        "llm_api_key",
        "llm_timeout_s",
        "model_slots",
    }
)
SECRET_SETTINGS = ("auth", "chroma_token", "llm_api_key")  # masked by `assistant config`


def default(name: str) -> Any:
    """The default of Settings field ``name`` (for signatures that must not restate it)."""
    return Settings.model_fields[name].default


class AnswerConfig(BaseModel):
    """What the answerer reads of Settings; defaults are the Settings defaults."""

    model_config = ConfigDict(frozen=True)

    max_tokens: int = default("answer_max_tokens")
    temperature: float = default("temperature")
    seed: int | None = None
    support_threshold: float = default("support_threshold")
    provenance: dict[str, str] = Field(default_factory=dict)


class TldrConfig(BaseModel):
    """What the TL;DR writer reads of Settings; defaults are the Settings defaults."""

    model_config = ConfigDict(frozen=True)

    max_words: int = default("tldr_max_words")
    max_tokens: int = default("tldr_max_tokens")
    attempts: int = default("tldr_attempts")
    source_tokens: int | None = None  # None: the whole abstract
    threshold: float = default("support_threshold")
    seed: int = default("seed")
    provenance: dict[str, str] = Field(default_factory=dict)


def _toml_path() -> Path | None:
    env = os.environ.get("ASSISTANT_CONFIG_FILE")
    if env:
        return Path(env)
    default = default_config_file()
    return default if default.is_file() else None


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build Settings; ``overrides`` are CLI flags (None values are ignored)."""
    from assistant.errors import UsageError

    clean = {k: v for k, v in overrides.items() if v is not None}
    toml = config_file or _toml_path()
    if toml is not None and not toml.is_file():  # given by flag or ASSISTANT_CONFIG_FILE
        raise UsageError(f"config file not found: {toml}")
    if toml is not None:
        clean["config_file"] = toml
    try:
        return Settings(**clean)
    except ValueError as exc:  # pydantic ValidationError is a ValueError
        raise UsageError(f"invalid settings: {exc}") from exc
