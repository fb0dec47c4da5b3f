"""A synchronous client of the ``medgym.v1.Environment`` service, with retries and timeouts.

Every method returns the generated protobuf messages (``medgym._proto.pb``); the gymnasium
environments in :mod:`medgym.env` and :mod:`medgym.vector` build on it.

Retries: a step carries a ``request_id`` (generated when not given) and the server answers a
repeated id with its first answer, so steps are retried on UNAVAILABLE and DEADLINE_EXCEEDED with
the same id and never take a turn twice. Reads (GetSpec, ListTasks, GetTrajectory, health) are
retried the same way. Reset creates a session, so it is retried on UNAVAILABLE only (the worst
case is an orphan session that the server's idle TTL reclaims).
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import grpc

from medgym._proto import pb, pb_grpc
from medgym.actions import ActionLike, to_action
from medgym.errors import MedgymError, MedgymUnavailable, error_from_rpc, error_from_status

__all__ = ["DEFAULT_ADDRESS", "Client", "channel_options", "episode_options", "health_method"]

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


def new_request_id() -> str:
    """A fresh request id for an idempotent step."""
    return uuid.uuid4().hex


class Client:
    """A connection to a medgym server.

    Args:
        address: ``host:port`` of the server.
        timeout: default deadline of each call, in seconds.
        max_retries: retries of a retryable failure (0: none).
        retry_backoff: first retry delay in seconds; doubles each retry (with jitter).
        metadata: extra call metadata, e.g. ``[("authorization", "Bearer ...")]``.
        channel: an existing channel to use instead of opening one (it is not closed by
            :meth:`close`).
    """

    def __init__(
        self,
        address: str = DEFAULT_ADDRESS,
        *,
        timeout: float = 30.0,
        max_retries: int = 3,
        retry_backoff: float = 0.1,
        metadata: Sequence[tuple[str, str]] | None = None,
        channel: grpc.Channel | None = None,
    ) -> None:
        self.address = address
        self.timeout = timeout
        self.max_retries = max_retries
        self.retry_backoff = retry_backoff
        self.metadata = tuple(metadata) if metadata else None
        self._own_channel = channel is None
        self._channel = channel if channel is not None else grpc.insecure_channel(address, options=channel_options())
        self._stub = pb_grpc.EnvironmentStub(self._channel)
        self._health = health_method(self._channel)
        self._closed = False

    # -- plumbing ---------------------------------------------------------------------------

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
                raise error_from_rpc(e, self.address) from e

    def _delay(self, attempt: int) -> float:
        base = self.retry_backoff * (2**attempt)
        return base * (0.5 + random.random())

    def wait_ready(self, timeout: float = 10.0) -> None:
        """Blocks until the channel is connected; raises MedgymUnavailable after ``timeout``."""
        try:
            grpc.channel_ready_future(self._channel).result(timeout=timeout)
        except grpc.FutureTimeoutError as e:
            raise MedgymUnavailable(f"no medgym server at {self.address} after {timeout} s") from e

    def health(self, service: str = "", *, timeout: float | None = None) -> str:
        """The grpc.health.v1 status: ``"SERVING"``, ``"NOT_SERVING"``, ... (``service`` ``""``: the
        server as a whole; ``"medgym.v1.Environment"``: the environment service)."""
        return self._call(self._health, service, _IDEMPOTENT, timeout)

    # -- the RPCs ---------------------------------------------------------------------------

    def get_spec(self, *, timeout: float | None = None) -> pb.EnvSpec:
        """Domains, splits, the exam catalog, tool schemas, default options and limits."""
        return self._call(self._stub.GetSpec, pb.GetSpecRequest(), _IDEMPOTENT, timeout)

    def list_tasks(self, domain: str = "", split: str = "", *, timeout: float | None = None) -> list[pb.TaskInfo]:
        """Every task matching the filter (all pages)."""
        tasks: list[pb.TaskInfo] = []
        token = ""
        while True:
            page = self._call(
                self._stub.ListTasks,
                pb.ListTasksRequest(domain=domain, split=split, page_size=1000, page_token=token),
                _IDEMPOTENT,
                timeout,
            )
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
        """Starts an episode in a new session. ``seed=None``: the server picks one (in ``info.seed``)."""
        return self._call(self._stub.Reset, reset_request(task_id, domain, split, seed, options), _RESET, timeout)

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
        the whole batch is retried safely."""
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
        response = self._call(self._stub.BatchStep, request, _IDEMPOTENT, timeout)
        return [
            r.response if r.WhichOneof("result") == "response" else error_from_status(r.error.code, r.error.message)
            for r in response.results
        ]

    def reset_many(
        self, requests: Sequence[pb.ResetRequest], *, timeout: float | None = None
    ) -> list[pb.ResetResponse]:
        """Many Resets in flight at once (one session each). If any fails, the sessions the
        others created are closed and the first error is raised."""
        if self._closed:
            raise MedgymError("the client is closed", code=grpc.StatusCode.CANCELLED)
        t = self.timeout if timeout is None else timeout
        futures = [self._stub.Reset.future(r, timeout=t, metadata=self.metadata) for r in requests]
        results: list[pb.ResetResponse | None] = []
        first_error: MedgymError | None = None
        for request, future in zip(requests, futures, strict=True):
            try:
                results.append(future.result())
            except grpc.RpcError as e:
                if e.code() in _RESET and first_error is None:
                    try:  # retried one by one, as reset() would
                        results.append(self._call(self._stub.Reset, request, _RESET, timeout))
                        continue
                    except MedgymError as again:
                        first_error = again
                else:
                    first_error = first_error or error_from_rpc(e, self.address)
                results.append(None)
        if first_error is not None:
            self.close_many([r.session_id for r in results if r is not None])
            raise first_error
        return results  # type: ignore[return-value]

    def close_many(self, session_ids: Iterable[str], *, timeout: float | None = None) -> list[MedgymError | None]:
        """Closes many sessions at once; returns each one's error (None when closed), never raises."""
        t = self.timeout if timeout is None else timeout
        futures = [
            self._stub.Close.future(pb.CloseRequest(session_id=s), timeout=t, metadata=self.metadata)
            for s in session_ids
        ]
        errors: list[MedgymError | None] = []
        for f in futures:
            try:
                f.result()
                errors.append(None)
            except grpc.RpcError as e:
                errors.append(error_from_rpc(e, self.address))
        return errors

    def close_session(self, session_id: str, *, timeout: float | None = None) -> pb.CloseResponse:
        """Ends a session (Close). Raises SessionNotFound if it is unknown or expired."""
        return self._call(self._stub.Close, pb.CloseRequest(session_id=session_id), _RESET, timeout)

    def trajectory(self, session_id: str, *, timeout: float | None = None) -> pb.Trajectory:
        """The recorded episode of a session (its hidden case once the episode has ended)."""
        return self._call(
            self._stub.GetTrajectory, pb.GetTrajectoryRequest(session_id=session_id), _IDEMPOTENT, timeout
        )

    # -- lifetime ---------------------------------------------------------------------------

    def close(self) -> None:
        """Closes the channel (if this client opened it). Idempotent."""
        if not self._closed:
            self._closed = True
            if self._own_channel:
                self._channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client({self.address!r})"


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
