"""The committed stubs in medgym/_proto are exactly what proto/ generates (no drift)."""

from __future__ import annotations

import importlib
from pathlib import Path

from medgym import _codegen

PYTHON_DIR = Path(__file__).resolve().parents[1]
REPO = PYTHON_DIR.parents[1]


def test_stubs_match_the_proto():
    stale = _codegen.differences(committed=PYTHON_DIR / "medgym" / "_proto", proto_root=REPO / "proto")
    assert not stale, (
        f"medgym/_proto is stale for {stale}: regenerate with "
        "`cd tools/python && python -m medgym._codegen` (grpcio-tools from the dev extra)"
    )


def test_the_pin_is_the_one_the_stubs_need():
    pyproject = (PYTHON_DIR / "pyproject.toml").read_text()
    assert pyproject.count(f'"grpcio-tools=={_codegen.GRPCIO_TOOLS_VERSION}"') == 2  # dev and test extras
    header = (PYTHON_DIR / "medgym/_proto/medgym/v1/environment_pb2_grpc.py").read_text()
    assert f"GRPC_GENERATED_VERSION = '{_codegen.GRPCIO_TOOLS_VERSION}'" in header


def test_generated_modules_import_relatively():
    generated = sorted((PYTHON_DIR / "medgym/_proto/medgym/v1").glob("*_pb2*.py*"))
    assert len(generated) == 3 * len(_codegen.proto_files(REPO / "proto"))
    for path in generated:
        assert "from medgym.v1 import" not in path.read_text(), path
    assert (
        "from . import environment_pb2" in (PYTHON_DIR / "medgym/_proto/medgym/v1/environment_pb2_grpc.py").read_text()
    )
    for path in generated:
        if path.suffix == ".py":
            importlib.import_module(f"medgym._proto.medgym.v1.{path.stem}")


def test_stub_has_every_rpc():
    from medgym._proto import pb, pb_grpc

    service = pb.DESCRIPTOR.services_by_name["Environment"]
    names = {m.name for m in service.methods}
    assert names == {"GetSpec", "ListTasks", "Reset", "Step", "Close", "GetTrajectory", "BatchStep", "Interact"}
    stub_methods = set(vars(pb_grpc.EnvironmentStub(_FakeChannel())))
    assert names <= stub_methods


class _FakeChannel:
    def __getattr__(self, name):
        return lambda *a, **k: None
