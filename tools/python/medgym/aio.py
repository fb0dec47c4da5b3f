"""An asyncio client: many sessions multiplexed on one ``Interact`` stream (grpc.aio).

Each request goes out as an ``EnvRequest`` envelope with a fresh id; a reader task matches the
``EnvResponse`` envelopes to the waiting callers by id, so any number of coroutines can drive
their sessions concurrently over one HTTP/2 stream::

    async with AsyncClient("127.0.0.1:50051") as client:
        async def play(seed):
            session = await client.new_session(seed=seed)
            obs, reward, terminated, truncated, info = await session.step({"ask": "Any fever?"})
            ...
            await session.close()
        await asyncio.gather(*(play(s) for s in range(64)))

If the stream breaks (server restart), waiting calls fail with MedgymUnavailable and the next
call opens a new stream; steps are retried on it with the same ``request_id``, so a retried
step is answered once. Reads (GetSpec, ListTasks, GetTrajectory, BatchStep) use unary calls on
the same channel.

Several replicas (a list of addresses, ``"a:1,b:2"`` or ``"dns:///name:port"``): one stream per
replica, routed by session id as :mod:`medgym.routing` describes.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Mapping, Sequence
from typing import Any

import grpc
import grpc.aio

from medgym._proto import pb, pb_grpc
from medgym.actions import ActionLike, to_action
from medgym.client import (
    DEFAULT_ADDRESS,
    auth_metadata,
    channel_options,
    episode_options,
    health_method,
    new_request_id,
    reset_request,
)
from medgym.convert import observation, reset_info, step_result
from medgym.errors import (
    MedgymError,
    MedgymTimeout,
    MedgymUnavailable,
    SessionNotFound,
    error_from_rpc,
    error_from_status,
)
from medgym.routing import Address, Endpoint, Replicas, channel_credentials, is_ip, parse_address, tls_options

__all__ = ["AsyncClient", "AsyncSession"]

_IDEMPOTENT = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})
_RESET = frozenset({grpc.StatusCode.UNAVAILABLE})


class _Stream:
    """One open Interact call and the callers waiting on it."""

    def __init__(self, call: Any) -> None:
        self.call = call
        self.pending: dict[int, asyncio.Future] = {}
        self.write_lock = asyncio.Lock()
        self.reader: asyncio.Task | None = None
        self.error: MedgymError | None = None

    def fail(self, error: MedgymError) -> None:
        self.error = self.error or error
        pending, self.pending = self.pending, {}
        for fut in pending.values():
            if not fut.done():  # one exception object per waiter: each gets its own traceback
                fut.set_exception(error_from_status(error.code, error.details))


class AsyncClient:
    """A medgym connection for asyncio code.

    Args:
        address: ``host:port`` of the server, or several replicas (a list, ``"a:1,b:2"``,
            ``"dns:///name:port"``), routed by session id.
        timeout: deadline of each request in seconds.
        max_retries: retries of a retryable failure (steps and reads; resets on UNAVAILABLE).
        retry_backoff: first retry delay in seconds, doubling.
        metadata: extra call metadata.
        token, ca_file, tls, tls_server_name, probe_interval: as :class:`medgym.Client`.
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
    ) -> None:
        addresses, dns_target = parse_address(address)
        self.address = address if isinstance(address, str) else ",".join(addresses)
        self.timeout = timeout
        self.max_retries = max_retries
        self.retry_backoff = retry_backoff
        self.metadata = auth_metadata(metadata, token)
        self._credentials = channel_credentials(ca_file, tls)
        self._server_name = tls_server_name
        self._channel: grpc.aio.Channel | None = None
        self._stub: pb_grpc.EnvironmentStub | None = None
        self._stream: _Stream | None = None
        self._open_lock: asyncio.Lock | None = None
        self._ids = itertools.count(1)
        self._closed = False
        #: Several replicas: one single-address client per endpoint (``Endpoint.stub``), routed.
        self._replicas: Replicas | None = None
        if len(addresses) == 1 and dns_target is None:
            self._target = addresses[0]
            return
        if dns_target is not None and not tls_server_name:
            host = dns_target.rpartition(":")[0].strip("[]")
            self._server_name = None if is_ip(host) else host
        self._fixed = addresses
        self._replicas = Replicas(dns_target, probe_interval)
        self._options = {"timeout": timeout, "max_retries": max_retries, "retry_backoff": retry_backoff}

    # -- connection -------------------------------------------------------------------------

    def _ensure_channel(self) -> pb_grpc.EnvironmentStub:
        if self._closed:
            raise MedgymError("the client is closed", code=grpc.StatusCode.CANCELLED)
        if self._stub is None:
            # Created on first use, inside the running event loop.
            if self._replicas is not None:
                raise RuntimeError("a routed AsyncClient has no channel of its own")
            if self._credentials is None:
                self._channel = grpc.aio.insecure_channel(self._target, options=channel_options())
            else:
                options = channel_options() + tls_options(self._target, self._server_name)
                self._channel = grpc.aio.secure_channel(self._target, self._credentials, options=options)
            self._stub = pb_grpc.EnvironmentStub(self._channel)
            self._open_lock = asyncio.Lock()
        return self._stub

    async def _ensure_stream(self) -> _Stream:
        stub = self._ensure_channel()
        assert self._open_lock is not None
        async with self._open_lock:
            if self._stream is None or self._stream.error is not None:
                if self._stream is not None:
                    self._stream.call.cancel()  # a broken stream: make sure it is gone
                stream = _Stream(stub.Interact(metadata=self.metadata))
                stream.reader = asyncio.ensure_future(self._read(stream))
                self._stream = stream
            return self._stream

    async def _read(self, stream: _Stream) -> None:
        error: MedgymError = MedgymUnavailable(f"the Interact stream to {self.address} ended")
        try:
            while True:
                response = await stream.call.read()
                if response is grpc.aio.EOF:
                    break
                fut = stream.pending.pop(response.id, None)
                if fut is not None and not fut.done():
                    fut.set_result(response)
        except grpc.RpcError as e:
            error = error_from_rpc(e, self.address, tls=self._credentials is not None)
        except asyncio.CancelledError:
            error = MedgymUnavailable("the client was closed")
            raise
        finally:
            stream.fail(error)

    async def connect(self, timeout: float = 10.0) -> None:
        """Waits until the server answers its health check (several replicas: until one answers
        GetSpec); MedgymUnavailable after ``timeout``."""
        deadline = asyncio.get_running_loop().time() + timeout
        if self._replicas is not None:
            while True:
                await self._refresh(force=True)
                if self._replicas.live():
                    return
                if asyncio.get_running_loop().time() > deadline:
                    raise MedgymUnavailable(self._no_replica())
                await asyncio.sleep(0.1)
        while True:
            try:
                if await self.health(timeout=1.0) == "SERVING":
                    return
            except MedgymError:
                pass
            if asyncio.get_running_loop().time() > deadline:
                raise MedgymUnavailable(f"no medgym server at {self.address} after {timeout} s")
            await asyncio.sleep(0.1)

    async def close(self) -> None:
        """Ends the stream and closes the channel. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._replicas is not None:
            await asyncio.gather(*(e.stub.close() for e in self._replicas.endpoints.values()))
            return
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                await stream.call.done_writing()
            except Exception:  # the stream may already be broken
                pass
            if stream.reader is not None:
                try:
                    await asyncio.wait_for(asyncio.shield(stream.reader), 1.0)
                except (asyncio.TimeoutError, Exception):
                    stream.reader.cancel()
            stream.fail(MedgymError("the client was closed", code=grpc.StatusCode.CANCELLED))
        if self._channel is not None:
            await self._channel.close()

    async def __aenter__(self) -> AsyncClient:
        if self._replicas is None:
            self._ensure_channel()
        return self

    # -- routing ----------------------------------------------------------------------------

    def _sub_client(self, address: str) -> AsyncClient:
        sub = AsyncClient(address, metadata=self.metadata, **self._options)
        sub._credentials, sub._server_name = self._credentials, self._server_name
        return sub

    async def _refresh(self, force: bool = False) -> None:
        r = self._replicas
        assert r is not None
        if self._closed:
            raise MedgymError("the client is closed", code=grpc.StatusCode.CANCELLED)
        for a in r.addresses_to_add(self._fixed):
            r.endpoints[a] = Endpoint(a, None, self._sub_client(a))
        due = r.due(force)
        if not due:
            return
        t = min(self.timeout, 2.0)
        probes = await asyncio.gather(
            *(e.stub._unary("GetSpec", pb.GetSpecRequest(), t, 0) for e in due), return_exceptions=True
        )
        for e, spec in zip(due, probes):
            if isinstance(spec, MedgymError) and spec.code in (
                grpc.StatusCode.UNAUTHENTICATED,
                grpc.StatusCode.PERMISSION_DENIED,
            ):
                raise spec
            if isinstance(spec, BaseException):
                r.down(e, str(spec))
            else:
                r.probed(e, spec)

    def _no_replica(self) -> str:
        assert self._replicas is not None
        reasons = "; ".join(f"{e.address}: {e.reason}" for e in self._replicas.endpoints.values())
        return f"no live medgym replica at {self.address} ({reasons or 'no address resolved'})"

    async def _any_live(self, call: Any) -> Any:
        """``call(sub_client)`` on the next live replica, then on the others while they are down."""
        r = self._replicas
        assert r is not None
        await self._refresh()
        tried: list[Endpoint] = []
        while True:
            e = r.next_for_reset(exclude=tried)
            if e is None and not tried:
                await self._refresh(force=True)
                e = r.next_for_reset()
            if e is None:
                raise MedgymUnavailable(self._no_replica())
            tried.append(e)
            try:
                return await call(e.stub)
            except MedgymUnavailable as err:
                r.down(e, str(err))

    async def _owner(self, session_id: str) -> Endpoint:
        r = self._replicas
        assert r is not None
        e = r.owner(session_id)
        if e is None or not e.live:
            await self._refresh()
            e = r.owner(session_id)
            if e is None or not e.live:
                raise r.not_found(session_id, e)
        return e

    async def _on_owner(self, session_id: str, call: Any) -> Any:
        e = await self._owner(session_id)
        try:
            return await call(e.stub)
        except MedgymUnavailable as err:
            assert self._replicas is not None
            self._replicas.down(e, str(err))
            raise self._replicas.not_found(session_id, e) from err

    async def replicas(self) -> dict[str, str]:
        """Live replicas as ``{replica_id: address}``."""
        if self._replicas is None:
            return {(await self.get_spec()).replica_id: self.address}
        await self._refresh()
        return {e.replica_id: e.address for e in self._replicas.live() if e.replica_id}

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- the envelope round trip ------------------------------------------------------------

    async def _request(self, kind: str, message: Any, retry_on: frozenset, timeout: float | None) -> Any:
        timeout = self.timeout if timeout is None else timeout
        attempt = 0
        while True:
            try:
                return await self._round_trip(kind, message, timeout)
            except MedgymError as e:
                if e.code in retry_on and attempt < self.max_retries and not self._closed:
                    await asyncio.sleep(self.retry_backoff * (2**attempt) * (0.5 + random.random()))
                    attempt += 1
                    continue
                raise

    async def _round_trip(self, kind: str, message: Any, timeout: float) -> Any:
        stream = await self._ensure_stream()
        rid = next(self._ids)
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        stream.pending[rid] = fut
        try:
            async with stream.write_lock:
                await stream.call.write(pb.EnvRequest(id=rid, **{kind: message}))
        except (grpc.RpcError, asyncio.InvalidStateError) as e:
            stream.pending.pop(rid, None)
            # The reader reports the stream's status; until it does, call it unavailable.
            error = stream.error or MedgymUnavailable(f"the Interact stream to {self.address} broke: {e}")
            stream.fail(error)
            raise error from e
        try:
            response: pb.EnvResponse = await asyncio.wait_for(fut, timeout)
        except asyncio.TimeoutError:
            stream.pending.pop(rid, None)
            raise MedgymTimeout(f"no answer to {kind} within {timeout} s") from None
        which = response.WhichOneof("response")
        if which == "error":
            raise error_from_status(response.error.code, response.error.message)
        if which != kind:
            raise MedgymError(f"asked for {kind}, the server answered {which}", code=grpc.StatusCode.INTERNAL)
        return getattr(response, which)

    # -- streamed requests ------------------------------------------------------------------

    async def reset(
        self,
        *,
        task_id: str = "",
        domain: str = "",
        split: str = "",
        seed: int | None = None,
        options: pb.EpisodeOptions | None = None,
        timeout: float | None = None,
    ) -> pb.ResetResponse:
        """Starts an episode in a new session (over the stream; several replicas: the next live
        one in turn)."""
        request = reset_request(task_id, domain, split, seed, options)
        if self._replicas is not None:
            return await self._any_live(lambda c: c._request("reset", request, _RESET, timeout))
        return await self._request("reset", request, _RESET, timeout)

    async def step(
        self, session_id: str, action: ActionLike, *, request_id: str | None = None, timeout: float | None = None
    ) -> pb.StepResponse:
        """One step (over the stream), retried with the same ``request_id``."""
        request = pb.StepRequest(
            session_id=session_id, action=to_action(action), request_id=request_id or new_request_id()
        )
        if self._replicas is not None:
            return await self._on_owner(session_id, lambda c: c._request("step", request, _IDEMPOTENT, timeout))
        return await self._request("step", request, _IDEMPOTENT, timeout)

    async def close_session(self, session_id: str, *, timeout: float | None = None) -> pb.CloseResponse:
        """Ends a session (over the stream)."""
        request = pb.CloseRequest(session_id=session_id)
        if self._replicas is not None:
            return await self._on_owner(session_id, lambda c: c._request("close", request, _RESET, timeout))
        return await self._request("close", request, _RESET, timeout)

    async def new_session(
        self,
        *,
        seed: int | None = None,
        task_id: str = "",
        domain: str = "",
        split: str = "",
        max_turns: int = 0,
        budget_usd: float = 0.0,
        noise: str | Mapping[str, Any] | None = None,
        persona: str = "",
        reward_weights: Mapping[str, float] | None = None,
    ) -> AsyncSession:
        """Resets a new session and wraps it with gymnasium-shaped results."""
        r = await self.reset(
            task_id=task_id,
            domain=domain,
            split=split,
            seed=seed,
            options=episode_options(
                max_turns=max_turns, budget_usd=budget_usd, noise=noise, persona=persona, reward_weights=reward_weights
            ),
        )
        return AsyncSession(self, r)

    # -- unary requests on the same channel -------------------------------------------------

    async def _unary(
        self, method_name: str, request: Any, timeout: float | None, max_retries: int | None = None
    ) -> Any:
        stub = self._ensure_channel()
        method = getattr(stub, method_name)
        timeout = self.timeout if timeout is None else timeout
        retries = self.max_retries if max_retries is None else max_retries
        attempt = 0
        while True:
            try:
                return await method(request, timeout=timeout, metadata=self.metadata)
            except grpc.RpcError as e:
                if e.code() in _IDEMPOTENT and attempt < retries:
                    await asyncio.sleep(self.retry_backoff * (2**attempt) * (0.5 + random.random()))
                    attempt += 1
                    continue
                raise error_from_rpc(e, self.address, tls=self._credentials is not None) from e

    async def health(self, service: str = "", *, timeout: float | None = None) -> str:
        """The grpc.health.v1 status, e.g. ``"SERVING"`` (several replicas: a live one's)."""
        if self._replicas is not None:
            return await self._any_live(lambda c: c.health(service, timeout=timeout))
        self._ensure_channel()
        assert self._channel is not None
        check = health_method(self._channel)
        try:
            return await check(service, timeout=self.timeout if timeout is None else timeout)
        except grpc.RpcError as e:
            raise error_from_rpc(e, self.address, tls=self._credentials is not None) from e

    async def get_spec(self, *, timeout: float | None = None) -> pb.EnvSpec:
        if self._replicas is not None:
            return await self._any_live(lambda c: c.get_spec(timeout=timeout))
        return await self._unary("GetSpec", pb.GetSpecRequest(), timeout)

    async def trajectory(
        self, session_id: str, *, include_record: bool = False, timeout: float | None = None
    ) -> pb.Trajectory:
        if self._replicas is not None:
            return await self._on_owner(
                session_id, lambda c: c.trajectory(session_id, include_record=include_record, timeout=timeout)
            )
        request = pb.GetTrajectoryRequest(session_id=session_id, include_record=include_record)
        return await self._unary("GetTrajectory", request, timeout)

    async def batch_step(
        self, steps: Sequence[tuple[str, ActionLike]], *, autoreset: bool = False, timeout: float | None = None
    ) -> list[pb.StepResponse | MedgymError]:
        """As :meth:`medgym.Client.batch_step`, asynchronously."""
        if self._replicas is not None:
            return await self._routed_batch(list(steps), autoreset, timeout)
        request = pb.BatchStepRequest(autoreset=autoreset)
        for session_id, action in steps:
            request.steps.add(session_id=session_id, action=to_action(action), request_id=new_request_id())
        response = await self._unary("BatchStep", request, timeout)
        return [
            r.response if r.WhichOneof("result") == "response" else error_from_status(r.error.code, r.error.message)
            for r in response.results
        ]

    async def _routed_batch(
        self, steps: list[tuple[str, ActionLike]], autoreset: bool, timeout: float | None
    ) -> list[pb.StepResponse | MedgymError]:
        r = self._replicas
        assert r is not None
        results: list[Any] = [None] * len(steps)
        groups: dict[Endpoint, list[int]] = {}
        for i, (session_id, _) in enumerate(steps):
            try:
                groups.setdefault(await self._owner(session_id), []).append(i)
            except SessionNotFound as e:
                results[i] = e
        items = list(groups.items())
        answers = await asyncio.gather(
            *(e.stub.batch_step([steps[i] for i in slots], autoreset=autoreset, timeout=timeout) for e, slots in items),
            return_exceptions=True,
        )
        for (e, slots), answer in zip(items, answers):
            if isinstance(answer, MedgymUnavailable):
                r.down(e, str(answer))
                answer = [r.not_found(steps[i][0], e) for i in slots]
            elif isinstance(answer, BaseException):
                raise answer
            for i, a in zip(slots, answer, strict=True):
                results[i] = a
        return results


class AsyncSession:
    """One session on an :class:`AsyncClient`, with gymnasium-shaped results."""

    def __init__(self, client: AsyncClient, reset: pb.ResetResponse) -> None:
        self.client = client
        self.session_id = reset.session_id
        self.episode_id = reset.info.episode_id
        #: The first observation and info, as ``MedgymEnv.reset`` returns them.
        self.observation = observation(reset.observation)
        self.info = reset_info(reset)
        self.done = False

    async def step(self, action: ActionLike) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        """``(obs, reward, terminated, truncated, info)`` as ``MedgymEnv.step``."""
        result = step_result(await self.client.step(self.session_id, action))
        self.done = result[2] or result[3]
        return result

    async def trajectory(self) -> pb.Trajectory:
        return await self.client.trajectory(self.session_id)

    async def close(self) -> pb.CloseResponse:
        return await self.client.close_session(self.session_id)

    async def __aenter__(self) -> AsyncSession:
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self.close()
        except MedgymError:
            pass
