"""Errors written for the user. The CLI maps them to exit codes in one place.

AssistantError          anything the user can act on (exit 1)
├── UsageError          bad flags or arguments (exit 2)
├── InputError          a file that cannot be read or parsed at all
├── StoreError          the store is missing, built differently, or broken
│   └── StoreLockedError another process holds the data-dir lock (exit 3)
├── ModelError          the GGUF is missing, swapped (sha256) or fails to load
└── BusyError           the model queue is full; try again shortly (exit 4)
"""

from __future__ import annotations


class AssistantError(Exception):
    exit_code = 1


class UsageError(AssistantError):
    exit_code = 2


class InputError(AssistantError):
    pass


class StoreError(AssistantError):
    pass


class StoreLockedError(StoreError):
    exit_code = 3


class ModelError(AssistantError):
    pass


class BusyError(AssistantError):
    exit_code = 4
