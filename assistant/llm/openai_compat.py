"""The chat model on a server: an OpenAI-compatible client implementing :class:`ChatModel`.

The only module that imports ``httpx`` for the model (vectorstore/chroma.py imports it only to
map the transport errors chromadb lets through). It speaks the part of the API that llama.cpp's
server, llama-cpp-python's server, vLLM and Ollama share: ``GET /models`` and streaming
``POST /chat/completions`` (server-sent events).

* The server only writes text. Everything it streams goes through the same loop as the
  in-process model (:func:`.stream.consume`): stop strings cut the text here even when the
  server ignores them and are never streamed, ``max_tokens`` is capped to what fits ``n_ctx``
  (from settings), and a looping reply ends with finish_reason "repetition". Grounding,
  retrieval and the judge stay local and check all of it, as for the in-process model.
* Special-token text in message contents (``<|im_end|>`` and the like) is broken up with a
  zero-width space before it is sent: the server's template would parse it as a control token,
  so a source could otherwise end its own turn.
* Token counts come from the server's tokenizer when it has an endpoint for it
  (llama-cpp-python ``/extras/tokenize``, llama.cpp and vLLM ``/tokenize``), found on first use;
  otherwise one token per :data:`ESTIMATE_BYTES_PER_TOKEN` UTF-8 bytes, an overcount for
  English text. The chat template is the server's, so a prompt is counted as its contents plus
  a stated allowance per message (:data:`MESSAGE_ALLOWANCE`).
* Calls hold a :class:`ModelGate` with ``model_slots`` slots (a server can run several), behind
  the same bounded queue as the in-process model.
* Errors are mapped at this boundary by a table (most specific class wins): down or too slow
  is a :class:`ModelServerError` (exit 5), 401/403 names ``llm_api_key``, a malformed or
  cut-off stream is an error, never a partial answer. The API key goes only into the
  Authorization header: it is scrubbed from every message raised here and never logged.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Generator, Sequence
from typing import TYPE_CHECKING, Any

import httpx

from assistant.errors import AssistantError, BusyError, ModelError, ModelServerError
from assistant.llm.stream import (
    CallbackError,
    Consumed,
    LLMStats,
    ModelGate,
    RepetitionGuard,
    consume,
)
from assistant.llm.wire import (
    Malformed,
    chat_request,
    defang,
    opener_as_instruction,
    parse_chunk,
    sse_payloads,
)
from assistant.protocols import Generation, Message

if TYPE_CHECKING:
    from assistant.config import Settings

__all__ = ["ESTIMATE_BYTES_PER_TOKEN", "MESSAGE_ALLOWANCE", "OpenAICompatLLM"]

CONNECT_TIMEOUT_S = 2.0  # a server that does not accept a connection in 2 s is down
# Prompt allowance for the server's chat template: ChatML, Llama-3, Gemma and Mistral add at
# most 6 tokens per message and 5 for the reply prompt; 8 + 16 leaves room for BOS.
MESSAGE_ALLOWANCE = 8
REPLY_ALLOWANCE = 16
# A template may add its own system prompt when the messages have none (SmolLM2's is 20 tokens).
DEFAULT_SYSTEM_ALLOWANCE = 48
# No tokenizer endpoint: BPE tokenizers average about 4 bytes per English token, so counting
# one per 3 bytes overcounts English prose by about a third (a budget then drops a source rather
# than overflowing the server's context).
ESTIMATE_BYTES_PER_TOKEN = 3
_COUNT_CACHE = 8192

# What httpx raises, what it means for the user and the error to raise; most specific wins.
_TRANSPORT: list[tuple[type[Exception], str, type[AssistantError]]] = [
    (httpx.HTTPError, "the request failed", ModelServerError),
    (httpx.ConnectError, "cannot connect: is it running? (check llm_base_url)", ModelServerError),
    (httpx.ConnectTimeout, f"no connection within {CONNECT_TIMEOUT_S:g} s", ModelServerError),
    (httpx.TimeoutException, "no answer within llm_timeout_s", ModelServerError),
    (httpx.RemoteProtocolError, "the server broke the connection mid-answer", ModelServerError),
    (httpx.DecodingError, "the server sent undecodable data", ModelServerError),
]


class OpenAICompatLLM:
    """ChatModel over an OpenAI-compatible server. Connects lazily on first use."""

    def __init__(self, settings: Settings, *, transport: httpx.BaseTransport | None = None) -> None:
        if not settings.llm_base_url:
            raise ModelError("llm_base_url is not set")
        self.base_url = settings.llm_base_url
        # tokenizer endpoints live beside /v1, not under it
        self._root = self.base_url[:-3] if self.base_url.endswith("/v1") else self.base_url
        self.n_ctx: int = settings.n_ctx
        self.timeout_s = settings.llm_timeout_s
        self._model: str | None = settings.llm_model
        self.name: str = settings.llm_model or "server model"
        self._seed = settings.seed
        self._strict = settings.llm_openai_strict
        key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else ""
        self._secret = key
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._client = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(self.timeout_s, connect=min(CONNECT_TIMEOUT_S, self.timeout_s)),
            limits=httpx.Limits(max_connections=settings.model_slots + 4),
            transport=transport,
            trust_env=False,  # proxies from the environment would see the key; be explicit
        )
        self._gate = ModelGate(settings.queue_size, slots=settings.model_slots)
        self._load_lock = threading.Lock()
        self._loaded = False
        self.load_s: float | None = None
        self.tokenizer = "unknown"  # which endpoint counts tokens: found on first count
        self._count_bias = 0  # tokens the endpoint adds to every text (a BOS)
        self._counts: OrderedDict[str, int] = OrderedDict()
        self._count_lock = threading.Lock()
        self.stop_on_repetition = True
        self.stats = LLMStats()

    # --- identity -------------------------------------------------------------------------------
    @property
    def sha256(self) -> str:
        """Not a file hash (the weights are on the server): the hash of the model's name as the
        server reports it, so provenance changes when the server's model does."""
        self.load()
        return hashlib.sha256(f"openai-compat:{self._model}".encode()).hexdigest()

    @sha256.setter
    def sha256(self, value: str) -> None:  # ChatModel declares a plain attribute
        raise AttributeError("OpenAICompatLLM.sha256 is read-only")

    @property
    def busy(self) -> bool:
        return self._gate.busy

    # --- errors ---------------------------------------------------------------------------------
    def _scrub(self, text: str) -> str:
        return text.replace(self._secret, "***") if self._secret else text

    def _transport_error(self, exc: httpx.HTTPError, what: str) -> AssistantError:
        matches = [(c, hint, err) for c, hint, err in _TRANSPORT if isinstance(exc, c)]
        _, hint, err = max(matches, key=lambda m: len(m[0].__mro__))
        if isinstance(exc, httpx.TimeoutException) and not isinstance(exc, httpx.ConnectTimeout):
            hint = f"no answer within llm_timeout_s = {self.timeout_s:g} s"
        detail = self._scrub(str(exc) or type(exc).__name__)
        return err(f"{what} failed at the model server {self.base_url}: {hint} ({detail})")

    def _status_error(self, response: httpx.Response, what: str) -> AssistantError:
        code = response.status_code
        try:
            body = response.read().decode("utf-8", "replace")
        except httpx.HTTPError:
            body = ""
        detail = self._scrub(" ".join(body.split())[:300])
        where = f"the model server {self.base_url}"
        if code in (401, 403):
            return ModelError(
                f"{where} refused the request (HTTP {code}): check llm_api_key "
                "(ASSISTANT_LLM_API_KEY)"
            )
        if code == 404:
            return ModelError(
                f"{what}: {where} has no such endpoint or model (HTTP 404): check llm_base_url "
                f"(it usually ends in /v1) and llm_model ({detail})"
            )
        if code in (429, 503):
            return BusyError(f"{where} is busy (HTTP {code}); try again shortly")
        if code >= 500:
            return ModelServerError(f"{what} failed at {where} (HTTP {code}: {detail})")
        return ModelError(f"{where} rejected the request (HTTP {code}: {detail})")

    # --- loading --------------------------------------------------------------------------------
    def load(self) -> float:
        """Ask the server which models it serves (once): checks the URL and the key, and picks
        the first model when ``llm_model`` is unset. Returns the seconds it took."""
        if self._loaded:
            return self.load_s or 0.0
        with self._load_lock:
            if not self._loaded:
                t0 = time.perf_counter()
                ids = self._model_ids()
                if self._model is None:
                    if not ids:
                        raise ModelError(f"the model server {self.base_url} lists no models")
                    self._model = ids[0]
                    self.name = ids[0].rsplit("/", 1)[-1]
                self.load_s = time.perf_counter() - t0
                self._loaded = True
        return self.load_s or 0.0

    def _model_ids(self) -> list[str]:
        try:
            response = self._client.get(f"{self.base_url}/models")
        except httpx.HTTPError as exc:
            raise self._transport_error(exc, "listing models") from exc
        if response.status_code != 200:
            raise self._status_error(response, "listing models")
        try:
            data = response.json()["data"]
            return [str(m["id"]) for m in data]
        except (ValueError, KeyError, TypeError) as exc:
            raise ModelServerError(
                f"the model server {self.base_url} sent a malformed model list ({exc})"
            ) from exc

    # --- tokens ---------------------------------------------------------------------------------
    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` by the server's tokenizer, or the stated overestimate."""
        with self._count_lock:
            if text in self._counts:
                self._counts.move_to_end(text)
                return self._counts[text]
        n = self._remote_count(text)
        if n is None:
            n = math.ceil(len(text.encode("utf-8")) / ESTIMATE_BYTES_PER_TOKEN)
        with self._count_lock:
            self._counts[text] = n
            while len(self._counts) > _COUNT_CACHE:
                self._counts.popitem(last=False)
        return n

    def _tokenize_requests(self, text: str) -> list[tuple[str, str, dict[str, Any]]]:
        """(name, url, body) per known tokenizer endpoint, in the order they are tried."""
        model = {"model": self._model} if self._model else {}
        return [
            ("llama-cpp-python", f"{self._root}/extras/tokenize", {"input": text, **model}),
            ("llama.cpp", f"{self._root}/tokenize", {"content": text, "add_special": False}),
            (
                "vllm",
                f"{self._root}/tokenize",
                {"prompt": text, "add_special_tokens": False, **model},
            ),
        ]

    def _post_tokenize(self, url: str, body: dict[str, Any]) -> int | None:
        try:
            response = self._client.post(url, json=body)
        except httpx.HTTPError as exc:
            raise self._transport_error(exc, "counting tokens") from exc
        if response.status_code in (401, 403):
            raise self._status_error(response, "counting tokens")
        if response.status_code != 200:
            return None
        try:
            tokens = response.json().get("tokens")
        except ValueError:
            return None
        return len(tokens) if isinstance(tokens, list) else None

    def _remote_count(self, text: str) -> int | None:
        if self.tokenizer == "estimate":
            return None
        if self.tokenizer == "unknown":
            self._find_tokenizer()
            return self._remote_count(text)
        for name, url, body in self._tokenize_requests(text):
            if name == self.tokenizer:
                n = self._post_tokenize(url, body)
                if n is None:
                    raise ModelServerError(
                        f"the model server {self.base_url} stopped counting tokens at {url}"
                    )
                return max(0, n - self._count_bias)
        return None

    def _find_tokenizer(self) -> None:
        self.load()
        with self._load_lock:
            if self.tokenizer != "unknown":
                return
            for name, url, body in self._tokenize_requests(""):
                bias = self._post_tokenize(url, body)
                if bias is not None:
                    # the empty text's tokens are what the endpoint adds to every text (BOS)
                    self.tokenizer, self._count_bias = name, bias
                    return
            self.tokenizer = "estimate"

    def prompt_tokens(self, messages: Sequence[Message]) -> int:
        """The contents' tokens plus the template allowance (the template is the server's)."""
        total = sum(self.count_tokens(defang(m["content"])) + MESSAGE_ALLOWANCE for m in messages)
        if not messages or messages[0]["role"] != "system":
            total += DEFAULT_SYSTEM_ALLOWANCE
        return total + REPLY_ALLOWANCE

    # --- generation -----------------------------------------------------------------------------
    def generate(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int,
        stop: Sequence[str] = (),
        temperature: float = 0.0,
        seed: int | None = None,
        on_token: Callable[[str], None] | None = None,
    ) -> Generation:
        """One streamed chat completion under the gate; ``on_token`` receives pieces."""
        if max_tokens < 1:
            raise ValueError("max_tokens must be at least 1")
        self.load()
        n_prompt = self.prompt_tokens(messages)
        if n_prompt >= self.n_ctx:
            raise ModelError(
                f"the prompt is about {n_prompt} tokens but the context window is {self.n_ctx}; "
                "shorten the sources or raise n_ctx (here and on the server)"
            )
        budget = min(max_tokens, self.n_ctx - n_prompt)
        stops = [s for s in stop if s]
        if self.tokenizer == "unknown":
            self._find_tokenizer()
        if self.tokenizer == "llama-cpp-python":  # its server cannot continue an opener
            messages = opener_as_instruction(messages)
        body = chat_request(
            self._model,
            messages,
            max_tokens=budget,
            stops=stops,
            temperature=temperature,
            seed=self._seed if seed is None else seed,
            strict=self._strict,
        )
        with self._gate.hold():
            t0 = time.perf_counter()
            try:
                with self._client.stream(
                    "POST", f"{self.base_url}/chat/completions", json=body
                ) as response:
                    if response.status_code != 200:
                        raise self._status_error(response, "generation")
                    result, finish = self._consume(response, budget, stops, on_token)
            except CallbackError as exc:  # the caller's own on_token failed: not a server error
                raise exc.original from None
            except httpx.HTTPError as exc:
                raise self._transport_error(exc, "generation") from exc
            except Malformed as exc:
                raise ModelServerError(
                    f"the model server {self.base_url} sent a malformed stream: "
                    f"{self._scrub(str(exc))}"
                ) from exc
        t_end = time.perf_counter()
        t_first = t_end if result.t_first is None else result.t_first
        self.stats.add(n_prompt, 0, result, t_first - t0, t_end - t_first)
        return Generation(
            text=result.text,
            prompt_tokens=n_prompt,
            completion_tokens=result.n_tokens,
            prefill_s=t_first - t0,
            decode_s=t_end - t_first,
            finish_reason=finish,
        )

    def _consume(
        self,
        response: httpx.Response,
        budget: int,
        stops: list[str],
        on_token: Callable[[str], None] | None,
    ) -> tuple[Consumed, str]:
        """Feed the streamed pieces through :func:`consume`; return (result, finish_reason)."""
        pieces: list[str] = []
        ids: dict[str, int] = {}  # equal pieces get equal ids, so the loop guard sees repeats
        server_finish = ""
        deadline = [time.monotonic() + self.timeout_s]

        def deltas() -> Generator[int, None, None]:
            nonlocal server_finish
            for payload in sse_payloads(response.iter_lines()):
                if time.monotonic() > deadline[0]:  # pings keep the socket busy, not the model
                    raise httpx.ReadTimeout("no output in time")
                for text, finish in parse_chunk(payload):
                    if finish:
                        server_finish = finish
                    if text:
                        deadline[0] = time.monotonic() + self.timeout_s
                        token = ids.setdefault(text, len(ids))
                        if token == len(pieces):
                            pieces.append(text)
                        yield token
            if not server_finish:  # [DONE] without a finish_reason: cut off (interrupted)
                raise Malformed("the stream stopped before the reply finished")

        emit: Callable[[str], None] | None = None
        if on_token is not None:
            callback = on_token

            def emit(text: str) -> None:
                try:
                    callback(text)
                except Exception as exc:
                    raise CallbackError(exc) from exc

        stream = deltas()
        try:
            result = consume(
                stream,
                piece=lambda token: pieces[token].encode("utf-8"),
                is_end=lambda token: False,
                budget=budget,
                stops=stops,
                on_token=emit,
                guard=RepetitionGuard() if self.stop_on_repetition else None,
            )
        finally:
            stream.close()
        finish = result.finish_reason
        if finish == "length" and server_finish == "stop":
            finish = "stop"
        return result, finish

    def close(self) -> None:
        self._client.close()
