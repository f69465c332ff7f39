"""``chroma_timeout_s``: a Chroma server that accepts connections but never answers (hung,
overloaded, a half-dead proxy) is a clear StoreServerError (exit 5) naming the URL and the
setting, never a hang. chromadb's HTTP client has no timeout of its own (vectorstore/chroma.py
sets one on its session), so these tests also fail if a chromadb upgrade moves that session.

Every call that could hang runs in a thread joined with a generous guard; nothing asserts on
elapsed time.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from assistant.cli import main
from assistant.config import Settings
from assistant.errors import StoreServerError
from assistant.servers import chroma_server, free_port
from vectorstore.chroma import ChromaBackend, ChromaStore
from vectorstore.tldrs import ChromaTldrs

GUARD_S = 60.0  # far above any timeout used here: only a real hang reaches it


@contextmanager
def hung_server() -> Iterator[str]:
    """A loopback socket that accepts every connection and never sends a byte."""
    sock = socket.create_server(("127.0.0.1", 0))
    sock.settimeout(0.1)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                held.append(sock.accept()[0])
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(5)
        for conn in held:
            conn.close()
        sock.close()


def raised_by(fn: Callable[[], Any]) -> BaseException | None:
    """What ``fn`` raised (None if nothing), run in a thread; fails the test if it hangs."""
    out: list[BaseException] = []

    def run() -> None:
        try:
            fn()
        except BaseException as exc:  # handed to the test thread
            out.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(GUARD_S)
    if thread.is_alive():
        pytest.fail(f"still waiting after {GUARD_S:g} s: the store call hangs")
    return out[0] if out else None


def _is_clear_timeout(exc: BaseException | None, url: str, timeout_s: float) -> StoreServerError:
    assert isinstance(exc, StoreServerError), repr(exc)
    msg = str(exc)
    assert url in msg and f"timed out after {timeout_s:g} s" in msg and "chroma_timeout_s" in msg
    assert exc.exit_code == 5
    return exc


def test_opening_a_hung_server_store_is_a_clear_timeout() -> None:
    with hung_server() as url:
        exc = raised_by(lambda: ChromaStore(None, "t-hung", url=url, timeout_s=0.5))
        assert str(_is_clear_timeout(exc, url, 0.5)).startswith("cannot open the Chroma server")
        # the backend the assistant opens stores through passes its timeout on
        exc = raised_by(lambda: ChromaBackend(url, timeout_s=0.5).open(None, "t-hung"))
        _is_clear_timeout(exc, url, 0.5)


def _wired() -> bool:
    from assistant.service import store_backend

    backend = store_backend(Settings(chroma_url="http://127.0.0.1:1", chroma_timeout_s=0.5))
    return getattr(backend, "timeout_s", None) == 0.5


@pytest.mark.skipif(
    not _wired(), reason="assistant.service.store_backend does not pass chroma_timeout_s yet"
)
def test_cli_against_a_hung_server_exits_5_with_the_timeout(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with hung_server() as url:
        monkeypatch.setenv("ASSISTANT_CHROMA_URL", url)
        monkeypatch.setenv("ASSISTANT_CHROMA_TIMEOUT_S", "0.5")
        codes: list[int] = []
        assert raised_by(lambda: codes.append(main(["status"]))) is None
    err = capsys.readouterr().err
    assert codes == [5] and "timed out after 0.5 s" in err and url in err, err
    assert "Traceback" not in err


def test_chromadb_still_keeps_its_http_session_where_the_adapter_sets_the_timeout() -> None:
    # vectorstore.chroma._http_client sets client._server._session.timeout; if chromadb
    # renames either attribute (or gains a timeout setting), revisit that one place
    from chromadb.api import ServerAPI
    from chromadb.api.client import Client
    from chromadb.config import Settings as ChromaSettings
    from chromadb.config import System

    assert "_server" in Client.__annotations__
    system = System(
        ChromaSettings(
            chroma_api_impl="chromadb.api.fastapi.FastAPI",
            chroma_server_host="127.0.0.1",
            chroma_server_http_port=free_port(),
            anonymized_telemetry=False,
        )
    )
    session = getattr(system.instance(ServerAPI), "_session", None)  # builds, sends nothing
    assert isinstance(session, httpx.Client)
    assert session.timeout == httpx.Timeout(None), "chromadb now sets a timeout: use it"


@pytest.mark.server
def test_a_server_that_hangs_mid_session_times_out_every_call(tmp_path: Path) -> None:
    """A real `chroma run`, stopped with SIGSTOP after the store is open: the kernel still
    accepts connections, nothing answers."""
    with chroma_server(tmp_path / "db", port=free_port(), log=tmp_path / "chroma.log") as server:
        store = ChromaStore(None, "t-hang", url=server.url, timeout_s=0.5)
        assert store._client._server._session.timeout == httpx.Timeout(0.5)
        tldrs = ChromaTldrs(store)
        assert server.proc is not None
        os.kill(server.proc.pid, signal.SIGSTOP)
        try:
            exc = _is_clear_timeout(raised_by(store.count_papers), server.url, 0.5)
            assert str(exc).startswith("count papers failed at the Chroma server")
            _is_clear_timeout(raised_by(lambda: tldrs.records), server.url, 0.5)
            _is_clear_timeout(raised_by(store.reopen), server.url, 0.5)
        finally:
            os.kill(server.proc.pid, signal.SIGCONT)
        assert store.count_papers() == 0  # answered again once the server runs
