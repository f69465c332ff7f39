"""Start the two servers as child processes on loopback: a Chroma server (``chroma run``) and
llama-cpp-python's OpenAI-compatible server with the model the in-process adapter would load.

One place for how they are started, so a local trial (``make serve-chroma``, ``make
serve-model``, ``make servers``), CI (``python -m assistant.servers run -- CMD``), the tests and
the benchmarks all run the same servers. Readiness is polled with a bound; a server that exits
or does not answer in time is reported with the tail of its log; ``stop`` always runs (context
manager), terminating and then killing.

The model server is started with ``--interrupt_requests False``: llama-cpp-python's default
ends a streaming reply as soon as another request arrives, which would cut off concurrent TL;DRs
(the client reports such a stream as an error rather than take the partial text).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from assistant.config import Settings, load_settings
from assistant.files import cpu_threads

__all__ = ["ServerProcess", "chroma_server", "free_port", "main", "model_server"]

HOST = "127.0.0.1"
CHROMA_READY_S = 60.0
MODEL_READY_S = 120.0


def free_port(host: str = HOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _get(url: str, timeout: float) -> int:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: no proxy
    try:
        with opener.open(url, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


@dataclass
class ServerProcess:
    """One server child process: ``url`` is what clients use, ``ready_url`` answers 200 once
    it serves. Restartable (a fault test kills it, then starts it again on the same port)."""

    name: str
    command: list[str]
    url: str
    ready_url: str
    log: Path
    ready_s: float
    setting: str  # the setting that points the assistant at it
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    started_s: float = 0.0  # seconds the last start took, until ready

    def start(self) -> ServerProcess:
        t0 = time.perf_counter()
        self.log.parent.mkdir(parents=True, exist_ok=True)
        log: IO[bytes] = self.log.open("ab")
        try:
            self.proc = subprocess.Popen(
                self.command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=os.environ | self.env,
                start_new_session=True,  # Ctrl-C in a terminal reaches us; we stop it
            )
        finally:
            log.close()
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        self.started_s = time.perf_counter() - t0
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_s
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with code {self.proc.returncode}:\n{self.log_tail()}"
                )
            try:
                if _get(self.ready_url, timeout=2.0) == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(
            f"{self.name} did not answer {self.ready_url} within {self.ready_s:g} s:\n"
            f"{self.log_tail()}"
        )

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text("utf-8", "replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL, as a crash would (fault tests)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def stop(self, timeout_s: float = 10.0) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout_s)

    def __enter__(self) -> ServerProcess:
        return self if self.running else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def chroma_server(
    path: Path, *, port: int, host: str = HOST, log: Path | None = None
) -> ServerProcess:
    """A Chroma server persisting in ``path`` (not started yet)."""
    exe = Path(sys.executable).with_name("chroma")
    return ServerProcess(
        name=f"chroma server on {host}:{port}",
        command=[str(exe), "run", "--path", str(path), "--host", host, "--port", str(port)],
        url=f"http://{host}:{port}",
        ready_url=f"http://{host}:{port}/api/v2/heartbeat",
        log=log or path.parent / f"chroma-{port}.log",
        ready_s=CHROMA_READY_S,
        setting="chroma_url",
        env={"ANONYMIZED_TELEMETRY": "False"},
    )


def model_server(
    settings: Settings, *, port: int, host: str = HOST, log: Path | None = None
) -> ServerProcess:
    """llama-cpp-python's server on the file, context and threads the in-process model would
    use (the bundled model's Q8_0 re-encoding by default; made once here if missing)."""
    from assistant.llm.llama import LocalLLM

    llm = LocalLLM(settings)
    runtime = llm.runtime_file()
    threads = str(settings.n_threads or cpu_threads())
    command = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(runtime.path),
        "--model_alias", llm.name,
        "--host", host, "--port", str(port),
        "--n_ctx", str(settings.n_ctx),
        "--n_batch", str(min(settings.n_batch, settings.n_ctx)),
        "--n_threads", threads, "--n_threads_batch", threads,
        "--flash_attn", str(settings.flash_attn),
        "--seed", str(settings.seed),
        "--interrupt_requests", "False",
        "--verbose", "False",
    ]  # fmt: skip
    return ServerProcess(
        name=f"model server on {host}:{port}",
        command=command,
        url=f"http://{host}:{port}/v1",
        ready_url=f"http://{host}:{port}/v1/models",
        log=log or settings.data_dir / f"model-server-{port}.log",
        ready_s=MODEL_READY_S,
        setting="llm_base_url",
        env={"HF_HUB_OFFLINE": "1"},
    )


def _serve(servers: list[ServerProcess]) -> int:
    """Run ``servers`` in the foreground until Ctrl-C (make serve-*)."""
    try:
        for server in servers:
            server.start()
            print(f"{server.name}: {server.url}  (log {server.log})", flush=True)
        for server in servers:
            print(f"  export ASSISTANT_{server.setting.upper()}={server.url}", flush=True)
        print("Press Ctrl+C to stop.", flush=True)
        while all(s.running for s in servers):
            time.sleep(0.5)
        return 1  # one of them died
    except KeyboardInterrupt:
        return 0
    finally:
        for server in servers:
            server.stop()


def _run(settings: Settings, command: list[str]) -> int:
    """Start both servers on free ports, run ``command`` against them, stop them."""
    with tempfile.TemporaryDirectory(prefix="assistant-servers-") as tmp:
        base = Path(tmp)
        chroma = chroma_server(base / "chroma", port=free_port(), log=base / "chroma.log")
        model = model_server(settings, port=free_port(), log=base / "model.log")
        t0 = time.perf_counter()
        with chroma, model:
            print(
                f"servers ready in {time.perf_counter() - t0:.1f} s: {chroma.url}, {model.url}",
                file=sys.stderr,
                flush=True,
            )
            env = os.environ | {
                "ASSISTANT_CHROMA_URL": chroma.url,
                "ASSISTANT_LLM_BASE_URL": model.url,
            }
            return subprocess.call(command, env=env)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m assistant.servers",
        description="Start a Chroma server and/or the model server on loopback.",
        epilog="examples:\n  python -m assistant.servers both\n"
        "  python -m assistant.servers run -- assistant eval --suite qa",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("what", choices=["chroma", "model", "both", "run"])
    parser.add_argument("--chroma-port", type=int, default=8000)
    parser.add_argument("--model-port", type=int, default=8080)
    parser.add_argument("--data-dir", type=Path, help="default: ASSISTANT_DATA_DIR or the user's")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="run: the command (after --)")
    args = parser.parse_args(argv)
    settings = load_settings(data_dir=args.data_dir)
    if args.what == "run":
        command = args.command[1:] if args.command[:1] == ["--"] else args.command
        if not command:
            parser.error("run needs a command after --")
        return _run(settings, command)
    servers = []
    if args.what in ("chroma", "both"):
        path = settings.data_dir / "chroma-server"
        servers.append(chroma_server(path, port=args.chroma_port))
    if args.what in ("model", "both"):
        servers.append(model_server(settings, port=args.model_port))
    return _serve(servers)


if __name__ == "__main__":
    raise SystemExit(main())
