"""Errors written for the user. The CLI maps them to exit codes in one place.

AssistantError          anything the user can act on (exit 1)
├── UsageError          bad flags or arguments (exit 2)
│   └── EvalConfigError a thresholds file or suite name the eval cannot use
├── InputError          a file that cannot be read or parsed at all
│   └── FixtureError    an eval fixture file that does not match its schema
├── PromptError         a prompt template that is missing, malformed or misused
├── StoreError          the store is missing, built differently, or broken
│   └── StoreLockedError another process holds the data-dir lock (exit 3)
├── ModelError          the GGUF is missing, swapped (sha256) or fails to load; a model server
│                       refuses the request (401: check llm_api_key)
├── BusyError           the model queue is full; try again shortly (exit 4)
└── ServerError         a server is down, too slow, or broke its protocol (exit 5)
    ├── StoreServerError the Chroma server (also a StoreError)
    └── ModelServerError the model server (also a ModelError)

Adapters map their library's exceptions into this tree at the boundary (vectorstore/chroma.py,
assistant/llm/llama.py, assistant/llm/openai_compat.py); anything else is a bug and surfaces as
one. A server error is its own exit code because it is usually transient (restart the server,
try again), unlike a wrong setting.
"""

from __future__ import annotations


class AssistantError(Exception):
    exit_code = 1


class UsageError(AssistantError):
    exit_code = 2


class EvalConfigError(UsageError):
    pass


class InputError(AssistantError):
    pass


class FixtureError(InputError, ValueError):
    pass


class PromptError(AssistantError, ValueError):
    pass


class StoreError(AssistantError):
    pass


class StoreLockedError(StoreError):
    exit_code = 3


class ModelError(AssistantError):
    pass


class BusyError(AssistantError):
    exit_code = 4


class ServerError(AssistantError):
    exit_code = 5


class StoreServerError(ServerError, StoreError):
    pass


class ModelServerError(ServerError, ModelError):
    pass
