"""Error types whose message is the one line a user sees (file and field named)."""

from __future__ import annotations


class UmedsamError(Exception):
    """Base class: an expected failure reported as one line, never as a traceback."""


class CaseError(UmedsamError):
    """A challenge case cannot be read or is malformed; names the file and the field."""

    def __init__(self, path: object, field: str, problem: str) -> None:
        self.path, self.field, self.problem = str(path), field, problem
        super().__init__(f"{self.path}: field '{field}': {problem}")


class CheckpointError(UmedsamError):
    """A checkpoint cannot be loaded safely or does not match the architecture."""


class EngineError(UmedsamError):
    """An engine path cannot be resolved to a backend, or the backend is not installed."""
