"""Fixtures that run the real medgym server binary.

The binary is ``$MEDGYM_BIN`` or ``<repo>/target/release/medgym`` (built with ``cargo build
--release`` when missing). Each server listens on free loopback ports and is waited for with the
gRPC health check.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import medgym

PYTHON_DIR = Path(__file__).resolve().parents[1]
REPO = PYTHON_DIR.parents[1]
START_TIMEOUT_S = 30.0

if os.environ.get("MEDGYM_TEST_INSTALLED") == "1" and PYTHON_DIR in Path(medgym.__file__).resolve().parents:
    raise RuntimeError(f"testing the source tree ({medgym.__file__}), not the installed package")


def medgym_binary() -> Path:
    given = os.environ.get("MEDGYM_BIN")
    if given:
        path = Path(given)
        if not path.is_file():
            pytest.exit(f"MEDGYM_BIN={given} is not a file", returncode=2)
        return path
    path = REPO / "target" / "release" / "medgym"
    if not path.is_file():
        subprocess.run(["cargo", "build", "--release", "--locked", "--bin", "medgym"], cwd=REPO, check=True)
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    """A running ``medgym serve``."""

    address: str
    metrics_address: str
    process: subprocess.Popen
    log_path: Path
    flags: tuple[str, ...] = field(default=())

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL: the server dies with its sessions, as a crashed replica does."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start_server(
    binary: Path, log_dir: Path, *flags: str, port: int | None = None, client_options: dict | None = None
) -> Server:
    """Starts ``medgym serve`` on ``port`` (default: a free one) and waits for its health check,
    made with ``client_options`` (e.g. ``ca_file`` for a TLS server)."""
    for attempt in range(3):  # a free port can be taken between probe and bind
        grpc_port, metrics_port = port or free_port(), free_port()
        address, metrics = f"127.0.0.1:{grpc_port}", f"127.0.0.1:{metrics_port}"
        log_path = log_dir / f"medgym-{grpc_port}.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [str(binary), "serve", "--addr", address, "--metrics-addr", metrics, *flags],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        server = Server(address, metrics, process, log_path, flags)
        client = medgym.Client(address, timeout=1.0, max_retries=0, **(client_options or {}))
        try:
            deadline = time.monotonic() + START_TIMEOUT_S
            while time.monotonic() < deadline:
                if process.poll() is not None:
                    break
                try:
                    if client.health("medgym.v1.Environment") == "SERVING":
                        return server
                except medgym.MedgymError:
                    pass
                time.sleep(0.05)
        finally:
            client.close()
        server.stop()
        if attempt == 2 or process.returncode not in (None, 1):
            break
    raise RuntimeError(f"medgym serve did not become healthy; log:\n{server.log()}")


@pytest.fixture(scope="session")
def server_factory():
    """Starts servers with extra flags; all are stopped at the end of the session."""
    binary = medgym_binary()
    servers: list[Server] = []
    with tempfile.TemporaryDirectory(prefix="medgym-test-") as log_dir:

        def start(*flags: str, **options) -> Server:
            s = start_server(binary, Path(log_dir), *flags, **options)
            servers.append(s)
            return s

        yield start
        for s in servers:
            s.stop()


@pytest.fixture(scope="session")
def server(server_factory) -> Server:
    """The shared server with default flags."""
    return server_factory()


@pytest.fixture(scope="session")
def address(server) -> str:
    return server.address


@pytest.fixture
def client(address):
    with medgym.Client(address, timeout=10.0) as c:
        yield c
