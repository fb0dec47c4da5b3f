"""A synchronous client of the ``medgym.v1.Environment`` service, with retries and timeouts.

Every method returns the generated protobuf messages (``medgym._proto.pb``); the gymnasium
environments in :mod:`medgym.env` and :mod:`medgym.vector` build on it.

Retries: a step carries a ``request_id`` (generated when not given) and the server answers a
repeated id with its first answer, so steps are retried on UNAVAILABLE and DEADLINE_EXCEEDED with
the same id and never take a turn twice. Reads (GetSpec, ListTasks, GetTrajectory, health) are
retried the same way. Reset creates a session, so it is retried on UNAVAILABLE only (the worst
case is an orphan session that the server's idle TTL reclaims).

Several replicas: given more than one address (a list, ``"a:1,b:2"`` or ``"dns:///name:port"``),
the client routes by session id as :mod:`medgym.routing` describes. One address takes the direct
path, with no routing cost.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import grpc

from medgym._proto import pb, pb_grpc
from medgym.actions import ActionLike, to_action
from medgym.errors import MedgymError, MedgymUnavailable, SessionNotFound, error_from_rpc, error_from_status
from medgym.routing import Address, Endpoint, Replicas, channel_credentials, is_ip, parse_address, tls_options

__all__ = [
    "DEFAULT_ADDRESS",
    "Client",
    "auth_metadata",
    "channel_options",
    "episode_options",
    "health_method",
]

DEFAULT_ADDRESS = "127.0.0.1:50051"

_IDEMPOTENT = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})
_RESET = frozenset({grpc.StatusCode.UNAVAILABLE})

#: Health statuses of grpc.health.v1.HealthCheckResponse.
HEALTH_STATUS = {0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}


def channel_options(max_message_bytes: int = 64 << 20) -> list[tuple[str, Any]]:
    """Channel arguments: large messages (batches) and a quick reconnect after a restart."""
    return [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.initial_reconnect_backoff_ms", 100),
        ("grpc.max_reconnect_backoff_ms", 2000),
    ]


# grpc.health.v1 without a dependency on grpcio-health-checking (whose pins would narrow the
# protobuf versions this package works with): the two messages are one field each.
def _encode_health_request(service: str) -> bytes:
    data = service.encode("utf-8")
    if not data:
        return b""
    n, length = len(data), bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        length.append(byte | (0x80 if n else 0))
        if not n:
            break
    return b"\x0a" + bytes(length) + data


def _decode_health_response(data: bytes) -> str:
    # Field 1 (status, varint) is the only field; it is absent when UNKNOWN (0).
    status = 0
    if len(data) >= 2 and data[0] == 0x08:
        status = data[1]
    return HEALTH_STATUS.get(status, f"UNKNOWN({status})")


def health_method(channel: grpc.Channel | grpc.aio.Channel):
    """The unary ``grpc.health.v1.Health/Check`` callable on a channel (sync or asyncio)."""
    return channel.unary_unary(
        "/grpc.health.v1.Health/Check",
        request_serializer=_encode_health_request,
        response_deserializer=_decode_health_response,
    )


def episode_options(
    *,
    max_turns: int = 0,
    budget_usd: float = 0.0,
    noise: str | Mapping[str, Any] | None = None,
    persona: str = "",
    reward_weights: Mapping[str, float | bool] | None = None,
) -> pb.EpisodeOptions:
    """``EpisodeOptions`` from Python values; unset (zero) fields take the server's defaults.

    ``noise`` is a preset name (``"none"``, ``"mild"``, ...) or ``{"preset": ..., "probabilities":
    {type: p}}``; ``reward_weights`` maps RewardWeights fields (``diagnosis``, ``cost``, ...,
    ``explicit``) to values.
    """
    o = pb.EpisodeOptions(max_turns=int(max_turns), budget_usd=float(budget_usd), persona=persona)
    if noise is not None:
        if isinstance(noise, str):
            o.noise.preset = noise
        else:
            unknown = set(noise) - {"preset", "probabilities"}
            if unknown:
                raise ValueError(f"noise takes 'preset' and 'probabilities', not {sorted(unknown)}")
            o.noise.preset = noise.get("preset", "") or ""
            o.noise.probabilities.update({k: float(v) for k, v in (noise.get("probabilities") or {}).items()})
    if reward_weights is not None:
        o.reward.CopyFrom(pb.RewardWeights(**dict(reward_weights)))
    return o


def auth_metadata(metadata: Sequence[tuple[str, str]] | None, token: str | None) -> tuple[tuple[str, str], ...] | None:
    """Call metadata with ``authorization: Bearer <token>`` added when a token is given."""
    items = tuple(metadata) if metadata else ()
    if token is not None:
        token = token.strip()
        if not token:
            raise ValueError("token is empty")
        if any(k.lower() == "authorization" for k, _ in items):
            raise ValueError("give the bearer token as token= or in metadata, not both")
        items += (("authorization", f"Bearer {token}"),)
    return items or None


def open_channel(
    address: str,
    credentials: grpc.ChannelCredentials | None,
    server_name: str | None = None,
) -> grpc.Channel:
    """A sync channel: plaintext without credentials, else TLS (checking ``server_name`` when set)."""
    if credentials is None:
        return grpc.insecure_channel(address, options=channel_options())
    return grpc.secure_channel(address, credentials, options=channel_options() + tls_options(address, server_name))


def new_request_id() -> str:
    """A fresh request id for an idempotent step."""
    return uuid.uuid4().hex


class Client:
    """A connection to a medgym server.

    Args:
        address: ``host:port`` of the server; or several replicas: a list of ``host:port``, a
            comma-separated string, or ``"dns:///name:port"`` (every address the name resolves
            to). Several addresses are routed by session id (:mod:`medgym.routing`).
        timeout: default deadline of each call, in seconds.
        max_retries: retries of a retryable failure (0: none).
        retry_backoff: first retry delay in seconds; doubles each retry (with jitter).
        metadata: extra call metadata.
        token: bearer token sent as ``authorization: Bearer <token>`` (``serve --auth-token-file``).
        ca_file: PEM file of the CA that signed the server's certificate (``medgym cert`` writes
            ``ca.pem``); given, the channel uses TLS.
        tls: True for TLS trusting the system's root CAs (no ``ca_file``).
        tls_server_name: the name the server's certificate is checked for, when it differs from the
            host dialled (a DNS target's name is used for the addresses it resolves to).
        probe_interval: seconds before an unreachable replica is probed again (routing only).
        channel: an existing channel to use instead of opening one (it is not closed by
            :meth:`close`; one address only).
    """

    def __init__(
        self,
        address: Address = DEFAULT_ADDRESS,
        *,
        timeout: float = 30.0,
        max_retries: int = 3,
        retry_backoff: float = 0.1,
        metadata: Sequence[tuple[str, str]] | None = None,
        token: str | None = None,
        ca_file: str | None = None,
        tls: bool | None = None,
        tls_server_name: str | None = None,
        probe_interval: float = 5.0,
        channel: grpc.Channel | None = None,
    ) -> None:
        addresses, dns_target = parse_address(address)
        self.address = address if isinstance(address, str) else ",".join(addresses)
        self.timeout = timeout
        self.max_retries = max_retries
        self.retry_backoff = retry_backoff
        self.metadata = auth_metadata(metadata, token)
        self._closed = False
        self._tls: bool | None = None if channel is not None else bool(ca_file is not None or tls)
        #: Routing state when several replicas are given; None on the direct path.
        self._replicas: Replicas | None = None
        if len(addresses) == 1 and dns_target is None:
            self._own_channel = channel is None
            if channel is None:
                channel = open_channel(addresses[0], channel_credentials(ca_file, tls), tls_server_name)
            self._channel = channel
            self._stub = pb_grpc.EnvironmentStub(self._channel)
            self._health = health_method(self._channel)
            return
        if channel is not None:
            raise ValueError("channel= serves one address; give a single address with it")
        self._own_channel = True
        self._credentials = channel_credentials(ca_file, tls)
        self._server_name = tls_server_name
        if dns_target is not None and not tls_server_name:
            host = dns_target.rpartition(":")[0].strip("[]")
            self._server_name = None if is_ip(host) else host
        self._fixed = addresses
        self._replicas = Replicas(dns_target, probe_interval)
        self._lock = threading.Lock()

    # -- plumbing ---------------------------------------------------------------------------

    def _err(self, e: grpc.RpcError, address: str) -> MedgymError:
        return error_from_rpc(e, address, tls=self._tls)

    def _call(self, method: Any, request: Any, retry_on: frozenset, timeout: float | None) -> Any:
        if self._closed:
            raise MedgymError("the client is closed", code=grpc.StatusCode.CANCELLED)
        attempt = 0
        while True:
            try:
                return method(request, timeout=self.timeout if timeout is None else timeout, metadata=self.metadata)
            except grpc.RpcError as e:
                if e.code() in retry_on and attempt < self.max_retries:
                    time.sleep(self._delay(attempt))
                    attempt += 1
                    continue
                raise self._err(e, self.address) from e

    def _delay(self, attempt: int) -> float:
        base = self.retry_backoff * (2**attempt)
        return base * (0.5 + random.random())

    # -- routing ----------------------------------------------------------------------------

    def _endpoint(self, address: str) -> Endpoint:
        channel = open_channel(address, self._credentials, self._server_name)
        return Endpoint(address, channel, pb_grpc.EnvironmentStub(channel))

    def _refresh(self, force: bool = False) -> None:
        """Adds newly resolved addresses and probes (GetSpec) the endpoints that are due."""
        r = self._replicas
        assert r is not None
        with self._lock:
            for a in r.addresses_to_add(self._fixed):
                r.endpoints[a] = self._endpoint(a)
            due = r.due(force)
        if not due:
            return
        # A probe is short: a replica that cannot answer GetSpec quickly is not one to reset on.
        t = min(self.timeout, 2.0)
        futures = [(e, e.stub.GetSpec.future(pb.GetSpecRequest(), timeout=t, metadata=self.metadata)) for e in due]
        for e, f in futures:
            try:
                spec = f.result()
            except grpc.RpcError as err:
                if err.code() in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
                    raise self._err(err, e.address) from err  # a config error, not an outage
                with self._lock:
                    r.down(e, str(self._err(err, e.address)))  # with the TLS hint, if one applies
                continue
            with self._lock:
                r.probed(e, spec)

    def _call_on(self, e: Endpoint, method: str, request: Any, retry_on: frozenset, timeout: float | None) -> Any:
        """A call to one replica with the usual retries; a final UNAVAILABLE takes the replica
        out of the rotation and is raised as MedgymUnavailable."""
        if self._closed:
            raise MedgymError("the client is closed", code=grpc.StatusCode.CANCELLED)
        attempt = 0
        while True:
            try:
                return getattr(e.stub, method)(
                    request, timeout=self.timeout if timeout is None else timeout, metadata=self.metadata
                )
            except grpc.RpcError as err:
                if err.code() in retry_on and attempt < self.max_retries:
                    time.sleep(self._delay(attempt))
                    attempt += 1
                    continue
                if err.code() == grpc.StatusCode.UNAVAILABLE:
                    self._mark_down(e, err)
                raise self._err(err, e.address) from err

    def _mark_down(self, e: Endpoint, err: grpc.RpcError) -> None:
        assert self._replicas is not None
        with self._lock:
            self._replicas.down(e, f"UNAVAILABLE: {err.details()}")

    def _any_live(self, method: str, request: Any, retry_on: frozenset, timeout: float | None) -> Any:
        """A call any replica can answer (spec, tasks, health): the next live one, then the others."""
        r = self._replicas
        assert r is not None
        self._refresh()
        tried: list[Endpoint] = []
        while True:
            with self._lock:
                e = r.next_for_reset(exclude=tried)
            if e is None and not tried:
                self._refresh(force=True)
                with self._lock:
                    e = r.next_for_reset()
            if e is None:
                raise MedgymUnavailable(self._no_replica())
            tried.append(e)
            try:
                return self._call_on(e, method, request, retry_on, timeout)
            except MedgymUnavailable:
                continue

    def _owner(self, session_id: str) -> Endpoint:
        """The live replica holding a session; SessionNotFound when it is unknown or down."""
        r = self._replicas
        assert r is not None
        with self._lock:
            e = r.owner(session_id)
        if e is None or not e.live:
            self._refresh()  # a DNS name may have gained it; a down one may be due for a probe
            with self._lock:
                e = r.owner(session_id)
            if e is None or not e.live:
                raise r.not_found(session_id, e)
        return e

    def _on_owner(self, session_id: str, method: str, request: Any, retry_on: frozenset, timeout: float | None) -> Any:
        e = self._owner(session_id)
        try:
            return self._call_on(e, method, request, retry_on, timeout)
        except MedgymUnavailable as err:
            assert self._replicas is not None
            raise self._replicas.not_found(session_id, e) from err

    def _no_replica(self) -> str:
        r = self._replicas
        assert r is not None
        reasons = "; ".join(f"{e.address}: {e.reason}" for e in r.endpoints.values()) or "no address resolved"
        return f"no live medgym replica at {self.address} ({reasons})"

    def replicas(self) -> dict[str, str]:
        """Live replicas as ``{replica_id: address}`` (probing the ones that are due). One address:
        ``{spec.replica_id: address}``."""
        if self._replicas is None:
            return {self.get_spec().replica_id: self.address}
        self._refresh()
        with self._lock:
            return {e.replica_id: e.address for e in self._replicas.live() if e.replica_id}

    def wait_ready(self, timeout: float = 10.0) -> None:
        """Blocks until the channel is connected (several replicas: until one answers GetSpec);
        raises MedgymUnavailable after ``timeout``."""
        if self._replicas is not None:
            deadline = time.monotonic() + timeout
            while True:
                self._refresh(force=True)
                if self._replicas.live():
                    return
                if time.monotonic() > deadline:
                    raise MedgymUnavailable(self._no_replica())
                time.sleep(0.1)
        try:
            grpc.channel_ready_future(self._channel).result(timeout=timeout)
        except grpc.FutureTimeoutError as e:
            raise MedgymUnavailable(f"no medgym server at {self.address} after {timeout} s") from e

    def health(self, service: str = "", *, timeout: float | None = None) -> str:
        """The grpc.health.v1 status: ``"SERVING"``, ``"NOT_SERVING"``, ... (``service`` ``""``: the
        server as a whole; ``"medgym.v1.Environment"``: the environment service). Several
        replicas: the status of a live one."""
        if self._replicas is not None:
            self._refresh()
            with self._lock:
                live = self._replicas.live()
            for e in live:
                try:
                    return self._call(health_method(e.channel), service, _IDEMPOTENT, timeout)
                except MedgymUnavailable:
                    self._mark_down_quiet(e)
            raise MedgymUnavailable(self._no_replica())
        return self._call(self._health, service, _IDEMPOTENT, timeout)

    def _mark_down_quiet(self, e: Endpoint) -> None:
        assert self._replicas is not None
        with self._lock:
            self._replicas.down(e, "UNAVAILABLE: health check failed")

    # -- the RPCs ---------------------------------------------------------------------------

    def get_spec(self, *, timeout: float | None = None) -> pb.EnvSpec:
        """Domains, splits, the exam catalog, tool schemas, default options and limits (several
        replicas: a live one's, whose ``replica_id`` names it)."""
        if self._replicas is not None:
            return self._any_live("GetSpec", pb.GetSpecRequest(), _IDEMPOTENT, timeout)
        return self._call(self._stub.GetSpec, pb.GetSpecRequest(), _IDEMPOTENT, timeout)

    def list_tasks(self, domain: str = "", split: str = "", *, timeout: float | None = None) -> list[pb.TaskInfo]:
        """Every task matching the filter (all pages)."""
        tasks: list[pb.TaskInfo] = []
        token = ""
        while True:
            request = pb.ListTasksRequest(domain=domain, split=split, page_size=1000, page_token=token)
            if self._replicas is not None:
                # Replicas serve the same knowledge, so pages from different ones fit together.
                page = self._any_live("ListTasks", request, _IDEMPOTENT, timeout)
            else:
                page = self._call(self._stub.ListTasks, request, _IDEMPOTENT, timeout)
            tasks.extend(page.tasks)
            token = page.next_page_token
            if not token:
                return tasks

    def reset(
        self,
        *,
        task_id: str = "",
        domain: str = "",
        split: str = "",
        seed: int | None = None,
        options: pb.EpisodeOptions | None = None,
        timeout: float | None = None,
    ) -> pb.ResetResponse:
        """Starts an episode in a new session. ``seed=None``: the server picks one (in ``info.seed``).
        Several replicas: on the next live one in turn."""
        request = reset_request(task_id, domain, split, seed, options)
        if self._replicas is not None:
            return self._any_live("Reset", request, _RESET, timeout)
        return self._call(self._stub.Reset, request, _RESET, timeout)

    def step(
        self,
        session_id: str,
        action: ActionLike,
        *,
        request_id: str | None = None,
        timeout: float | None = None,
    ) -> pb.StepResponse:
        """Applies one action. Retried with the same ``request_id`` (generated if not given)."""
        request = pb.StepRequest(
            session_id=session_id, action=to_action(action), request_id=request_id or new_request_id()
        )
        if self._replicas is not None:
            return self._on_owner(session_id, "Step", request, _IDEMPOTENT, timeout)
        return self._call(self._stub.Step, request, _IDEMPOTENT, timeout)

    def batch_step(
        self,
        steps: Iterable[tuple[str, ActionLike] | pb.StepRequest],
        *,
        autoreset: bool = False,
        timeout: float | None = None,
    ) -> list[pb.StepResponse | MedgymError]:
        """Steps many sessions in one message. Each slot is a response or, when that step alone
        failed, the exception for its status (not raised). Steps without a request id get one, so
        the whole batch is retried safely. Several replicas: one message per replica, sent at
        once; the slots of a replica that is unknown or unreachable are SessionNotFound."""
        request = pb.BatchStepRequest(autoreset=autoreset)
        for s in steps:
            if isinstance(s, pb.StepRequest):
                r = request.steps.add()
                r.CopyFrom(s)
                if not r.request_id:
                    r.request_id = new_request_id()
            else:
                session_id, action = s
                request.steps.add(session_id=session_id, action=to_action(action), request_id=new_request_id())
        if self._replicas is not None:
            return self._routed_batch(request, timeout)
        response = self._call(self._stub.BatchStep, request, _IDEMPOTENT, timeout)
        return _batch_results(response)

    def _routed_batch(self, request: pb.BatchStepRequest, timeout: float | None) -> list[pb.StepResponse | MedgymError]:
        r = self._replicas
        assert r is not None
        results: list[pb.StepResponse | MedgymError | None] = [None] * len(request.steps)
        groups: dict[Endpoint, list[int]] = {}
        for i, step in enumerate(request.steps):
            try:
                groups.setdefault(self._owner(step.session_id), []).append(i)
            except SessionNotFound as e:
                results[i] = e
        parts = []
        for e, slots in groups.items():
            part = pb.BatchStepRequest(autoreset=request.autoreset)
            part.steps.extend(request.steps[i] for i in slots)
            parts.append((e, slots, part))
        t = self.timeout if timeout is None else timeout
        # The first attempt goes to every replica at once; a failed part is retried on its own.
        futures = [
            (e, slots, part, e.stub.BatchStep.future(part, timeout=t, metadata=self.metadata))
            for e, slots, part in parts
        ]
        for e, slots, part, f in futures:
            try:
                answers = _batch_results(f.result())
            except grpc.RpcError as err:
                if err.code() not in _IDEMPOTENT:
                    raise self._err(err, e.address) from err
                try:
                    answers = _batch_results(self._call_on(e, "BatchStep", part, _IDEMPOTENT, timeout))
                except MedgymUnavailable as down:
                    for i in slots:
                        results[i] = r.not_found(request.steps[i].session_id, e)
                        results[i].__cause__ = down
                    continue
            for i, a in zip(slots, answers, strict=True):
                results[i] = a
        return results  # type: ignore[return-value]

    def reset_many(
        self, requests: Sequence[pb.ResetRequest], *, timeout: float | None = None
    ) -> list[pb.ResetResponse]:
        """Many Resets in flight at once (one session each). If any fails, the sessions the
        others created are closed and the first error is raised."""
        if self._closed:
            raise MedgymError("the client is closed", code=grpc.StatusCode.CANCELLED)
        t = self.timeout if timeout is None else timeout
        if self._replicas is not None:
            targets = self._reset_targets(len(requests))
            futures = [e.stub.Reset.future(r, timeout=t, metadata=self.metadata) for e, r in zip(targets, requests)]
        else:
            futures = [self._stub.Reset.future(r, timeout=t, metadata=self.metadata) for r in requests]
        results: list[pb.ResetResponse | None] = []
        first_error: MedgymError | None = None
        for i, (request, future) in enumerate(zip(requests, futures, strict=True)):
            try:
                results.append(future.result())
            except grpc.RpcError as e:
                if e.code() in _RESET and first_error is None:
                    if self._replicas is not None and e.code() == grpc.StatusCode.UNAVAILABLE:
                        self._mark_down(targets[i], e)
                    try:  # retried one by one, as reset() would (on another replica if need be)
                        results.append(self.reset_request(request, timeout=timeout))
                        continue
                    except MedgymError as again:
                        first_error = again
                else:
                    first_error = first_error or self._err(e, self.address)
                results.append(None)
        if first_error is not None:
            self.close_many([r.session_id for r in results if r is not None])
            raise first_error
        return results  # type: ignore[return-value]

    def _reset_targets(self, n: int) -> list[Endpoint]:
        """The replicas ``n`` resets go to, in rotation."""
        r = self._replicas
        assert r is not None
        self._refresh()
        with self._lock:
            targets = [r.next_for_reset() for _ in range(n)]
        if n and targets[0] is None:
            self._refresh(force=True)
            with self._lock:
                targets = [r.next_for_reset() for _ in range(n)]
            if targets[0] is None:
                raise MedgymUnavailable(self._no_replica())
        return targets  # type: ignore[return-value]

    def reset_request(self, request: pb.ResetRequest, *, timeout: float | None = None) -> pb.ResetResponse:
        """Reset with a prepared ResetRequest (see :func:`reset_request`)."""
        if self._replicas is not None:
            return self._any_live("Reset", request, _RESET, timeout)
        return self._call(self._stub.Reset, request, _RESET, timeout)

    def close_many(self, session_ids: Iterable[str], *, timeout: float | None = None) -> list[MedgymError | None]:
        """Closes many sessions at once; returns each one's error (None when closed), never raises."""
        t = self.timeout if timeout is None else timeout
        futures: list[Any] = []
        for s in session_ids:
            request = pb.CloseRequest(session_id=s)
            if self._replicas is None:
                futures.append((self.address, self._stub.Close.future(request, timeout=t, metadata=self.metadata)))
                continue
            try:
                e = self._owner(s)
            except SessionNotFound as err:
                futures.append((None, err))
                continue
            futures.append((e.address, e.stub.Close.future(request, timeout=t, metadata=self.metadata)))
        errors: list[MedgymError | None] = []
        for address, f in futures:
            if isinstance(f, MedgymError):
                errors.append(f)
                continue
            try:
                f.result()
                errors.append(None)
            except grpc.RpcError as e:
                errors.append(self._err(e, address))
        return errors

    def close_session(self, session_id: str, *, timeout: float | None = None) -> pb.CloseResponse:
        """Ends a session (Close). Raises SessionNotFound if it is unknown or expired."""
        request = pb.CloseRequest(session_id=session_id)
        if self._replicas is not None:
            return self._on_owner(session_id, "Close", request, _RESET, timeout)
        return self._call(self._stub.Close, request, _RESET, timeout)

    def trajectory(
        self, session_id: str, *, include_record: bool = False, timeout: float | None = None
    ) -> pb.Trajectory:
        """The recorded episode of a session (its hidden case once the episode has ended);
        ``include_record`` adds the server's JSONL record line once it has ended (``record_json``)."""
        request = pb.GetTrajectoryRequest(session_id=session_id, include_record=include_record)
        if self._replicas is not None:
            return self._on_owner(session_id, "GetTrajectory", request, _IDEMPOTENT, timeout)
        return self._call(self._stub.GetTrajectory, request, _IDEMPOTENT, timeout)

    # -- lifetime ---------------------------------------------------------------------------

    def close(self) -> None:
        """Closes the channel (if this client opened it). Idempotent."""
        if not self._closed:
            self._closed = True
            if self._replicas is not None:
                for e in self._replicas.endpoints.values():
                    e.channel.close()
            elif self._own_channel:
                self._channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client({self.address!r})"


def _batch_results(response: pb.BatchStepResponse) -> list[pb.StepResponse | MedgymError]:
    return [
        r.response if r.WhichOneof("result") == "response" else error_from_status(r.error.code, r.error.message)
        for r in response.results
    ]


def reset_request(
    task_id: str = "",
    domain: str = "",
    split: str = "",
    seed: int | None = None,
    options: pb.EpisodeOptions | None = None,
) -> pb.ResetRequest:
    """A ResetRequest; a seed must fit in uint64."""
    r = pb.ResetRequest(task_id=task_id or "", domain=domain or "", split=split or "")
    if seed is not None:
        seed = int(seed)
        if not 0 <= seed < 2**64:
            raise ValueError(f"a seed is an unsigned 64-bit integer, got {seed}")
        r.seed = seed
    if options is not None:
        r.options.CopyFrom(options)
    return r
