"""A fake OpenAI-compatible server on loopback, for the faults a real server rarely shows on
demand: a 401, a server slower than the timeout, a malformed or cut-off stream.

It speaks just enough of the API (``GET /v1/models``, streaming ``POST /v1/chat/completions``,
optionally ``POST /extras/tokenize``) and records every request, so tests can check what the
client sent (headers included) as well as what it did with the answer.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Script:
    """What the fake server does. ``pieces`` are streamed as content deltas, then ``finish``."""

    pieces: list[str] = field(default_factory=lambda: ["Hello", " world", "."])
    finish: str | None = "stop"
    status: int = 200  # e.g. 401 for every request
    delay_s: float = 0.0  # before the first byte of every answer
    piece_delay_s: float = 0.0
    malformed_after: int | None = None  # send garbage after this many pieces
    done: bool = True  # send [DONE] at the end
    tokenize: bool = True  # offer llama-cpp-python's /extras/tokenize (one token per word)
    pings: int = 0  # ": ping" comments before the first chunk


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


class FakeOpenAI:
    def __init__(self, script: Script | None = None) -> None:
        self.script = script or Script()
        self.requests: list[Request] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _record(self) -> Any:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                fake.requests.append(Request(self.command, self.path, dict(self.headers), body))
                return body

            def _json(self, code: int, obj: Any) -> None:
                data = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _gate(self) -> bool:
                s = fake.script
                if s.delay_s:
                    time.sleep(s.delay_s)
                if s.status != 200:
                    self._json(s.status, {"error": {"message": f"status {s.status}"}})
                    return False
                return True

            def do_GET(self) -> None:
                self._record()
                if not self._gate():
                    return
                if self.path == "/v1/models":
                    self._json(200, {"object": "list", "data": [{"id": "fake-model"}]})
                else:
                    self._json(404, {"error": "no such path"})

            def do_POST(self) -> None:
                body = self._record()
                if not self._gate():
                    return
                if self.path == "/extras/tokenize" and fake.script.tokenize:
                    words = str(body.get("input", "")).split()
                    self._json(200, {"tokens": [1] + list(range(len(words)))})  # BOS + words
                elif self.path == "/v1/chat/completions":
                    self._stream()
                else:
                    self._json(404, {"error": "no such path"})

            def _event(self, data: str) -> None:
                self.wfile.write(f"data: {data}\n\n".encode())
                self.wfile.flush()

            def _stream(self) -> None:
                s = fake.script
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True
                try:
                    for _ in range(s.pings):
                        self.wfile.write(b": ping\n\n")
                    for i, piece in enumerate(s.pieces):
                        if s.malformed_after is not None and i == s.malformed_after:
                            self._event("{not json")
                            return
                        if s.piece_delay_s:
                            time.sleep(s.piece_delay_s)
                        delta = {"choices": [{"index": 0, "delta": {"content": piece}}]}
                        self._event(json.dumps(delta))
                    if s.finish:
                        end = {"choices": [{"index": 0, "delta": {}, "finish_reason": s.finish}]}
                        self._event(json.dumps(end))
                    if s.done:
                        self._event("[DONE]")
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client hung up (it found a stop string)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def chat_requests(self) -> list[Request]:
        return [r for r in self.requests if r.path == "/v1/chat/completions"]


@contextmanager
def fake_openai(script: Script | None = None) -> Iterator[FakeOpenAI]:
    server = FakeOpenAI(script).start()
    try:
        yield server
    finally:
        server.stop()
