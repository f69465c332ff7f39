"""Launch-time safety checks for the UI, kept free of gradio so they are unit-testable.

* The UI binds to loopback by default. Any other address needs ``auth`` ("user:password"):
  without it :func:`check_bind` raises :class:`UsageError` before anything listens.
* :func:`blocked_paths` lists the directories gradio must never serve (the data dir with the
  Chroma sqlite, and the model's directory) for ``launch(blocked_paths=...)``.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from pathlib import Path

from assistant.errors import UsageError

__all__ = ["blocked_paths", "check_bind", "free_port", "is_loopback", "parse_auth"]

_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and the usual names for them; False for 0.0.0.0 and ``::``."""
    name = host.strip().strip("[]").lower()
    if name in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def parse_auth(auth: str | None) -> tuple[str, str] | None:
    """``"user:password"`` -> ``("user", "password")``; None stays None."""
    if auth is None or not auth.strip():
        return None
    user, sep, password = auth.partition(":")
    if not sep or not user.strip() or not password:
        raise UsageError("auth must look like 'user:password' (set ASSISTANT_AUTH or `auth`)")
    return user.strip(), password


def check_bind(host: str, auth: str | None) -> tuple[str, str] | None:
    """Refuse a non-loopback ``host`` unless ``auth`` is configured; return the credentials."""
    if not host.strip():
        raise UsageError("empty UI host; use 127.0.0.1")
    credentials = parse_auth(auth)
    if not is_loopback(host) and credentials is None:
        raise UsageError(
            f"refusing to serve the UI on {host!r} without authentication: anyone who can "
            "reach this address could use it. Keep the default --host 127.0.0.1, or set "
            "ASSISTANT_AUTH=user:password (or `auth` in the config file) and put a TLS proxy "
            "in front of it."
        )
    return credentials


def blocked_paths(paths: Iterable[Path | None]) -> list[str]:
    """Absolute, de-duplicated directories for gradio's ``blocked_paths``."""
    out: list[str] = []
    for p in paths:
        if p is None:
            continue
        resolved = str(Path(p).expanduser().resolve())
        if resolved not in out:
            out.append(resolved)
    return out


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (for port 0 and tests)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])
