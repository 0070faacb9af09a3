"""Why a recording could not be processed.

WorkerError
├── PermanentError      retrying cannot help: the message goes to the dead-letter topic at once
│   ├── BadMessageError     not JSON, or a required field is missing
│   ├── NotFoundError       Vault answered 404
│   ├── UnauthorizedError   Vault answered 401/403
│   ├── UntrustedLocationError  the event names a Vault the configured keys must not go to
│   ├── UnreachableLocationError  a place only the event names keeps failing (after the bounded retries)
│   ├── TooLargeError       announced or actual size above the cap
│   └── BadVideoError       empty, truncated or not a video
└── TransientError      Vault 5xx, time-outs, connection errors: retried with backoff; never dead-lettered (the
                        consumer holds the message, pauses and retries until Vault answers)
"""

from __future__ import annotations


class WorkerError(Exception):
    """Base of every error the worker turns into a dead-letter reason."""

    reason = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class PermanentError(WorkerError):
    reason = "permanent"


class BadMessageError(PermanentError):
    reason = "bad-message"


class NotFoundError(PermanentError):
    reason = "not-found"


class UnauthorizedError(PermanentError):
    reason = "unauthorized"


class UntrustedLocationError(PermanentError):
    reason = "untrusted-location"


class UnreachableLocationError(PermanentError):
    reason = "unreachable-location"


class TooLargeError(PermanentError):
    reason = "too-large"


class BadVideoError(PermanentError):
    reason = "bad-video"


class TransientError(WorkerError):
    reason = "transient"


class ShutdownRequested(Exception):
    """The worker is stopping while waiting to retry: leave the message uncommitted for the next consumer."""
