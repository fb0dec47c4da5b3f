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
    channel_options,
    episode_options,
    health_method,
    new_request_id,
    reset_request,
)
from medgym.convert import observation, reset_info, step_result
from medgym.errors import MedgymError, MedgymTimeout, MedgymUnavailable, error_from_rpc, error_from_status

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
        address: ``host:port`` of the server.
        timeout: deadline of each request in seconds.
        max_retries: retries of a retryable failure (steps and reads; resets on UNAVAILABLE).
        retry_backoff: first retry delay in seconds, doubling.
        metadata: extra call metadata, e.g. ``[("authorization", "Bearer ...")]``.
    """

    def __init__(
        self,
        address: str = DEFAULT_ADDRESS,
        *,
        timeout: float = 30.0,
        max_retries: int = 3,
        retry_backoff: float = 0.1,
        metadata: Sequence[tuple[str, str]] | None = None,
    ) -> None:
        self.address = address
        self.timeout = timeout
        self.max_retries = max_retries
        self.retry_backoff = retry_backoff
        self.metadata = tuple(metadata) if metadata else None
        self._channel: grpc.aio.Channel | None = None
        self._stub: pb_grpc.EnvironmentStub | None = None
        self._stream: _Stream | None = None
        self._open_lock: asyncio.Lock | None = None
        self._ids = itertools.count(1)
        self._closed = False

    # -- connection -------------------------------------------------------------------------

    def _ensure_channel(self) -> pb_grpc.EnvironmentStub:
        if self._closed:
            raise MedgymError("the client is closed", code=grpc.StatusCode.CANCELLED)
        if self._stub is None:
            # Created on first use, inside the running event loop.
            self._channel = grpc.aio.insecure_channel(self.address, options=channel_options())
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
            error = error_from_rpc(e, self.address)
        except asyncio.CancelledError:
            error = MedgymUnavailable("the client was closed")
            raise
        finally:
            stream.fail(error)

    async def connect(self, timeout: float = 10.0) -> None:
        """Waits until the server answers its health check; MedgymUnavailable after ``timeout``."""
        deadline = asyncio.get_running_loop().time() + timeout
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
        self._ensure_channel()
        return self

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
        """Starts an episode in a new session (over the stream)."""
        return await self._request("reset", reset_request(task_id, domain, split, seed, options), _RESET, timeout)

    async def step(
        self, session_id: str, action: ActionLike, *, request_id: str | None = None, timeout: float | None = None
    ) -> pb.StepResponse:
        """One step (over the stream), retried with the same ``request_id``."""
        request = pb.StepRequest(
            session_id=session_id, action=to_action(action), request_id=request_id or new_request_id()
        )
        return await self._request("step", request, _IDEMPOTENT, timeout)

    async def close_session(self, session_id: str, *, timeout: float | None = None) -> pb.CloseResponse:
        """Ends a session (over the stream)."""
        return await self._request("close", pb.CloseRequest(session_id=session_id), _RESET, timeout)

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

    async def _unary(self, method_name: str, request: Any, timeout: float | None) -> Any:
        stub = self._ensure_channel()
        method = getattr(stub, method_name)
        timeout = self.timeout if timeout is None else timeout
        attempt = 0
        while True:
            try:
                return await method(request, timeout=timeout, metadata=self.metadata)
            except grpc.RpcError as e:
                if e.code() in _IDEMPOTENT and attempt < self.max_retries:
                    await asyncio.sleep(self.retry_backoff * (2**attempt) * (0.5 + random.random()))
                    attempt += 1
                    continue
                raise error_from_rpc(e, self.address) from e

    async def health(self, service: str = "", *, timeout: float | None = None) -> str:
        """The grpc.health.v1 status, e.g. ``"SERVING"``."""
        self._ensure_channel()
        assert self._channel is not None
        check = health_method(self._channel)
        try:
            return await check(service, timeout=self.timeout if timeout is None else timeout)
        except grpc.RpcError as e:
            raise error_from_rpc(e, self.address) from e

    async def get_spec(self, *, timeout: float | None = None) -> pb.EnvSpec:
        return await self._unary("GetSpec", pb.GetSpecRequest(), timeout)

    async def trajectory(self, session_id: str, *, timeout: float | None = None) -> pb.Trajectory:
        return await self._unary("GetTrajectory", pb.GetTrajectoryRequest(session_id=session_id), timeout)

    async def batch_step(
        self, steps: Sequence[tuple[str, ActionLike]], *, autoreset: bool = False, timeout: float | None = None
    ) -> list[pb.StepResponse | MedgymError]:
        """As :meth:`medgym.Client.batch_step`, asynchronously."""
        request = pb.BatchStepRequest(autoreset=autoreset)
        for session_id, action in steps:
            request.steps.add(session_id=session_id, action=to_action(action), request_id=new_request_id())
        response = await self._unary("BatchStep", request, timeout)
        return [
            r.response if r.WhichOneof("result") == "response" else error_from_status(r.error.code, r.error.message)
            for r in response.results
        ]


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
