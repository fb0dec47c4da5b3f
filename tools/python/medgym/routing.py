"""Client-side routing over several medgym replicas (docs/deploy.md, "Session ids and routing").

Every session id a replica issues is ``{replica_id}.{32 hex}``, and ``GetSpec`` tells a server's
``replica_id``. A client given several addresses (a list, ``"a:1,b:2"``, or ``"dns:///name:port"``
resolving to many) learns each address's replica with GetSpec and then:

- sends Reset to the live replicas in turn (round robin);
- sends Step/Close/GetTrajectory to the replica the session id names;
- splits a BatchStep by replica and puts the answers back in request order;
- turns a session whose replica is unknown or unreachable into ``SessionNotFound`` (NOT_FOUND, as
  the replica itself answers for a session it does not hold), takes that replica out of the reset
  rotation and probes it again after ``probe_interval`` seconds, so the caller can reset elsewhere.

This module holds what the sync and asyncio clients share: address parsing, DNS resolution,
channel credentials and the bookkeeping of which replica is where.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from medgym.errors import SessionNotFound

__all__ = [
    "Address",
    "Endpoint",
    "Replicas",
    "channel_credentials",
    "parse_address",
    "replica_of",
    "resolve",
]

#: What clients accept as ``address``: ``"host:port"``, ``"h1:p1,h2:p2"``, ``"dns:///name:port"``
#: or a sequence of ``"host:port"`` strings.
Address = str | Sequence[str]

DNS_SCHEME = "dns:///"


def parse_address(address: Address) -> tuple[list[str], str | None]:
    """``(addresses, dns_target)``: the fixed addresses given, or the ``name:port`` to resolve.

    One plain address comes back as a one-element list; the clients keep their direct,
    unrouted path for it.
    """
    if isinstance(address, str):
        text = address.strip()
        if text.startswith(DNS_SCHEME):
            target = text[len(DNS_SCHEME) :]
            _split_host_port(target)  # fail early on a malformed target
            return [], target
        parts = [p.strip() for p in text.split(",")]
    else:
        parts = [str(p).strip() for p in address]
    parts = [p for p in parts if p]
    if not parts:
        raise ValueError(f"no server address in {address!r}")
    for p in parts:
        if p.startswith(DNS_SCHEME):
            raise ValueError(f"{p!r}: a dns:/// target is given alone, not in a list")
    # The same address twice would make one server look like two replicas' worth of rotation.
    return list(dict.fromkeys(parts)), None


def _split_host_port(target: str) -> tuple[str, int]:
    host, sep, port = target.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"expected host:port, got {target!r}")
    return host.strip("[]"), int(port)


def resolve(target: str) -> list[str]:
    """Every address ``name:port`` resolves to (A and AAAA records), as ``host:port`` strings in
    resolver order without repeats; IPv6 hosts in brackets."""
    host, port = _split_host_port(target)
    out: list[str] = []
    for family, _, _, _, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        ip = sockaddr[0]
        out.append(f"[{ip}]:{port}" if family == socket.AF_INET6 else f"{ip}:{port}")
    return list(dict.fromkeys(out))


def replica_of(session_id: str) -> str | None:
    """The replica a session id names (``{replica_id}.{hex}``), or None for an id without one."""
    replica, sep, rest = session_id.partition(".")
    return replica if sep and replica and rest else None


def channel_credentials(ca_file: str | Path | None, tls: bool | None) -> grpc.ChannelCredentials | None:
    """TLS credentials trusting ``ca_file`` (PEM), the system roots when ``tls`` is True without a
    CA file, or None for a plaintext channel."""
    if ca_file is not None:
        if tls is False:
            raise ValueError("ca_file is for TLS; it cannot be combined with tls=False")
        path = Path(ca_file)
        try:
            roots = path.read_bytes()
        except OSError as e:
            raise FileNotFoundError(f"cannot read the CA file {path}: {e.strerror or e}") from e
        if b"-----BEGIN CERTIFICATE-----" not in roots:
            raise ValueError(f"{path} holds no PEM certificate (expected the ca.pem of `medgym cert`)")
        return grpc.ssl_channel_credentials(root_certificates=roots)
    if tls:
        return grpc.ssl_channel_credentials()
    return None


def tls_options(address: str, server_name: str | None) -> list[tuple[str, Any]]:
    """Channel arguments that check a certificate for ``server_name`` rather than for the
    address dialled (an IP a DNS name resolved to, whose certificate names the service)."""
    if not server_name:
        return []
    host, _ = _split_host_port(address)
    if host == server_name:
        return []
    return [("grpc.ssl_target_name_override", server_name), ("grpc.default_authority", server_name)]


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


@dataclass(eq=False)
class Endpoint:
    """One address and what is known of the replica behind it."""

    address: str
    channel: Any
    stub: Any
    #: The replica id its GetSpec reported (None until probed).
    replica_id: str | None = None
    #: In the reset rotation: it answered its last probe and no call to it failed since.
    live: bool = False
    #: Monotonic time after which a down endpoint may be probed again.
    retry_at: float = 0.0
    #: Why it is down (for error messages).
    reason: str = "not probed yet"
    #: Another endpoint already serves this replica id (e.g. a name resolving to both the IPv4 and
    #: the IPv6 address of one server): kept out of the rotation so it is not counted twice.
    duplicate: bool = False
    spec: Any = field(default=None, repr=False)


class Replicas:
    """Which replica is where, which are live, and whose turn it is to take a reset.

    Transport-free: the clients probe and call; this class keeps the state they share. Not
    thread-safe on its own; the sync client guards it with a lock.
    """

    def __init__(self, dns_target: str | None, probe_interval: float) -> None:
        self.dns_target = dns_target
        self.probe_interval = probe_interval
        self.endpoints: dict[str, Endpoint] = {}
        self.by_replica: dict[str, Endpoint] = {}
        self._turn = 0
        self._resolved_at = float("-inf")

    def addresses_to_add(self, fixed: Sequence[str] = ()) -> list[str]:
        """Addresses not yet known: the fixed ones, or (at most once per probe interval) what the
        DNS name resolves to now, so replicas added behind the name are found."""
        if self.dns_target is None:
            return [a for a in fixed if a not in self.endpoints]
        now = time.monotonic()
        if now - self._resolved_at < self.probe_interval and self.endpoints:
            return []
        self._resolved_at = now
        try:
            found = resolve(self.dns_target)
        except OSError:
            return []  # the name may come back; known endpoints stay probed
        return [a for a in found if a not in self.endpoints]

    def due(self, force: bool = False) -> list[Endpoint]:
        """Endpoints to probe: those never probed (``retry_at`` starts at 0) and down ones whose
        wait is over; every endpoint not live when ``force``."""
        now = time.monotonic()
        return [e for e in self.endpoints.values() if not e.live and (force or now >= e.retry_at)]

    def probed(self, e: Endpoint, spec: Any) -> None:
        replica = spec.replica_id
        if not replica:
            self.down(e, "the server reports no replica_id (a medgym server too old to route to)")
            return
        if e.replica_id and e.replica_id != replica and self.by_replica.get(e.replica_id) is e:
            del self.by_replica[e.replica_id]  # restarted as a new replica: old sessions are gone
        e.replica_id, e.spec = replica, spec
        owner = self.by_replica.get(replica)
        if owner is not None and owner is not e and owner.live:
            e.duplicate, e.live, e.reason = True, False, f"same replica as {owner.address}"
            e.retry_at = time.monotonic() + self.probe_interval
            return
        self.by_replica[replica] = e
        e.duplicate, e.live, e.reason = False, True, ""

    def down(self, e: Endpoint, reason: str) -> None:
        e.live, e.reason = False, reason
        e.retry_at = time.monotonic() + self.probe_interval

    def live(self) -> list[Endpoint]:
        return [e for e in self.endpoints.values() if e.live]

    def next_for_reset(self, exclude: Sequence[Endpoint] = ()) -> Endpoint | None:
        live = [e for e in self.live() if e not in exclude]
        if not live:
            return None
        e = live[self._turn % len(live)]
        self._turn += 1
        return e

    def owner(self, session_id: str) -> Endpoint | None:
        replica = replica_of(session_id)
        return self.by_replica.get(replica) if replica else None

    def not_found(self, session_id: str, e: Endpoint | None) -> SessionNotFound:
        replica = replica_of(session_id)
        if replica is None:
            why = "its id names no replica"
        elif e is None:
            known = ", ".join(sorted(self.by_replica)) or "none"
            why = f"its replica {replica!r} is not among the known ones ({known})"
        else:
            why = f"its replica {replica!r} at {e.address} is unreachable ({e.reason})"
        return SessionNotFound(f"session {session_id}: {why}; reset a new episode elsewhere")

    def spec(self) -> Any:
        for e in self.live():
            if e.spec is not None:
                return e.spec
        return None
