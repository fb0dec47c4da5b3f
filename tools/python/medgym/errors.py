"""Python exceptions for the statuses medgym answers with, and for transport failures.

Invalid *agent* actions are never exceptions: they come back as a normal step with
``info["feedback"]["valid"] == False``. These exceptions are for protocol and transport problems.
"""

from __future__ import annotations

import grpc

__all__ = [
    "CapacityExceeded",
    "EpisodeOver",
    "InvalidRequest",
    "MedgymError",
    "MedgymTimeout",
    "MedgymUnavailable",
    "SessionNotFound",
    "Unauthenticated",
    "error_from_rpc",
    "error_from_status",
]


class MedgymError(Exception):
    """A medgym RPC failed. ``code`` is the gRPC status code, ``details`` the server's message."""

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN

    def __init__(self, details: str = "", *, code: grpc.StatusCode | None = None) -> None:
        if code is not None:
            self.code = code
        self.details = details
        super().__init__(f"{self.code.name}: {details}" if details else self.code.name)


class MedgymUnavailable(MedgymError, ConnectionError):
    """The server cannot be reached (down, restarting, or the address is wrong)."""

    code = grpc.StatusCode.UNAVAILABLE


class MedgymTimeout(MedgymError, TimeoutError):
    """The call did not finish within its timeout (DEADLINE_EXCEEDED)."""

    code = grpc.StatusCode.DEADLINE_EXCEEDED


class SessionNotFound(MedgymError, LookupError):
    """The session is unknown: never created, closed, or expired after the server's idle TTL."""

    code = grpc.StatusCode.NOT_FOUND


class InvalidRequest(MedgymError, ValueError):
    """The request was malformed: missing action, oversize text, unknown task id, bad options."""

    code = grpc.StatusCode.INVALID_ARGUMENT


class CapacityExceeded(MedgymError):
    """The server's session limit is reached; close finished sessions or retry later."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class EpisodeOver(MedgymError):
    """A step on a session whose episode has already ended (FAILED_PRECONDITION): reset first."""

    code = grpc.StatusCode.FAILED_PRECONDITION


class Unauthenticated(MedgymError, PermissionError):
    """The server wants a valid bearer token."""

    code = grpc.StatusCode.UNAUTHENTICATED


_BY_CODE: dict[grpc.StatusCode, type[MedgymError]] = {
    cls.code: cls
    for cls in (
        MedgymUnavailable,
        MedgymTimeout,
        SessionNotFound,
        InvalidRequest,
        CapacityExceeded,
        EpisodeOver,
        Unauthenticated,
    )
}
_BY_NUMBER: dict[int, grpc.StatusCode] = {c.value[0]: c for c in grpc.StatusCode}


def error_from_status(code: int | grpc.StatusCode, details: str = "") -> MedgymError:
    """The exception for a status: a gRPC code (enum or number, as in ``pb.Status.code``)."""
    if not isinstance(code, grpc.StatusCode):
        code = _BY_NUMBER.get(int(code), grpc.StatusCode.UNKNOWN)
    cls = _BY_CODE.get(code)
    return cls(details) if cls is not None else MedgymError(details, code=code)


def error_from_rpc(e: grpc.RpcError, address: str | None = None, *, tls: bool | None = None) -> MedgymError:
    """The exception for a failed gRPC call (sync or asyncio). ``tls`` (whether the channel uses
    TLS, when known) lets a connection failure say what to change."""
    code = e.code() if hasattr(e, "code") else grpc.StatusCode.UNKNOWN
    details = (e.details() if hasattr(e, "details") else None) or str(e)
    if code == grpc.StatusCode.UNAVAILABLE and address:
        details = f"medgym server at {address} unavailable: {details}{_tls_hint(details, tls)}"
    err = error_from_status(code, details)
    err.__cause__ = e
    return err


def _tls_hint(details: str, tls: bool | None) -> str:
    # gRPC reports a TLS mismatch as a bare transport failure; say which setting is likely wrong.
    if tls is False and "Socket closed" in details:
        return (
            " (the server closed a plaintext connection: if it serves TLS (medgym serve --tls-cert), "
            "pass ca_file= with the CA that signed its certificate, e.g. the ca.pem of `medgym cert`)"
        )
    if tls and ("CERTIFICATE_VERIFY_FAILED" in details or "certificate" in details.lower()):
        return (
            " (the server's TLS certificate was not accepted: ca_file= must be the CA that signed it, and the "
            "certificate must name the host dialled, else set tls_server_name=)"
        )
    if tls and ("WRONG_VERSION_NUMBER" in details or "Handshake" in details or "handshake" in details):
        return " (the TLS handshake failed: is the server serving TLS? without --tls-cert, connect without ca_file)"
    return ""
