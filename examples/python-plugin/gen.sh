#!/bin/sh
# Regenerates the Python stubs committed beside plugin.py.
#   message classes (*_pb2.py): the system protoc (Debian protobuf-compiler),
#     whose output works with every python3-protobuf backend;
#   service stubs (*_pb2_grpc.py): Debian's python3-grpc-tools.
set -eu
cd "$(dirname "$0")"
sdk=../../sdk/proto/pluginv1
protoc -I "$sdk" --python_out=. "$sdk/plugin.proto"
protoc -I . --python_out=. health.proto grpc_controller.proto
/usr/bin/python3 -m grpc_tools.protoc -I "$sdk" --grpc_python_out=. "$sdk/plugin.proto"
/usr/bin/python3 -m grpc_tools.protoc -I . --grpc_python_out=. health.proto grpc_controller.proto
