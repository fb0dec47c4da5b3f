"""The generated gRPC stubs of ``proto/medgym/v1`` (written by ``python -m medgym._codegen``).

``pb`` holds the messages (``pb.ResetRequest``, ``pb.Action``, ...), ``pb_grpc`` the service stub.
"""

from medgym._proto.medgym.v1 import environment_pb2 as pb
from medgym._proto.medgym.v1 import environment_pb2_grpc as pb_grpc

__all__ = ["pb", "pb_grpc"]
