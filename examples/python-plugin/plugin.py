#!/usr/bin/python3
"""An example Sluice plugin written in Python.

At the data hook it adds the header "X-Python-Plugin: seen" and rejects
(550 5.7.1) a message whose Subject contains "python-reject".

It speaks hashicorp/go-plugin's protocol as any non-Go plugin must:
  1. refuse to run unless the handshake cookie is in the environment;
  2. serve gRPC on 127.0.0.1, port chosen by the kernel;
  3. print the handshake line CORE-VERSION|APP-VERSION|tcp|ADDR|grpc;
  4. serve grpc.health.v1.Health with service "plugin" SERVING, and
     go-plugin's GRPCController so that the core can shut it down;
plus Sluice's service, sluice.plugin.v1.Plugin (sdk/proto/pluginv1).

It takes no settings: Init refuses any [stage.config] key, naming it, and
logs JSON lines on stderr, which the core logs at their own level.

Needs Debian's python3-grpcio and python3-protobuf.
"""

import json
import logging
import os
import signal
import sys
import threading
from concurrent import futures

# The generated stubs live beside this file; no __pycache__ in the tree.
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import grpc  # noqa: E402

import grpc_controller_pb2  # noqa: E402
import grpc_controller_pb2_grpc  # noqa: E402
import health_pb2  # noqa: E402
import health_pb2_grpc  # noqa: E402
import plugin_pb2 as pb  # noqa: E402
import plugin_pb2_grpc  # noqa: E402

# Must match sdk.Handshake in sdk/serve.go; never changes within protocol 1.
COOKIE_KEY = "SLUICE_PLUGIN"
COOKIE_VALUE = "d7f1c8a2-5b3e-4f0a-9c6d-sluice-v1"
PROTOCOL_VERSION = 1
GO_PLUGIN_CORE_VERSION = 1

log = logging.getLogger("python-plugin")


class JSONLines(logging.Formatter):
    """One JSON object a line, with "level" and "msg": the core logs it at
    that level with that message (README, "Write your own plugin")."""

    def format(self, record):
        rec = {"level": record.levelname, "msg": record.getMessage(), "logger": record.name}
        if record.exc_info:
            # The traceback, which grpc alone would drop (see setup_logging).
            rec["exc"] = self.formatException(record.exc_info)
        return json.dumps(rec)


def setup_logging():
    """Log to stderr, the core's log. grpc installs a NullHandler; without a
    handler of our own an exception in a hook reaches the log only as
    "Exception calling application: ...", with no traceback."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JSONLines())
    logging.basicConfig(level=logging.INFO, handlers=[handler])


def check_config(config_json):
    """This plugin takes no settings: an empty object or nothing. The error
    names the key as encoding/json does, so the core reports it at that
    key's line of [stage.config]."""
    try:
        cfg = json.loads(config_json or b"{}")
    except ValueError as e:
        return "config is not JSON: %s" % e
    if not isinstance(cfg, dict):
        return "config is not a JSON object"
    if cfg:
        return 'unknown field "%s" (this plugin takes no settings)' % sorted(cfg)[0]
    return None


class Plugin(plugin_pb2_grpc.PluginServicer):
    """sluice.plugin.v1.Plugin: a data hook that reads headers only."""

    def Init(self, request, context):
        if request.protocol_version not in (0, PROTOCOL_VERSION):
            context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                          "plugin speaks protocol %d, core %d" % (PROTOCOL_VERSION, request.protocol_version))
        problem = check_config(request.config_json)
        if problem:
            # INVALID_ARGUMENT with the plugin's own words: the core shows
            # them at the line of the key they name and does not start.
            log.error("stage %s: %s", request.stage_name, problem)
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, problem)
        log.info("stage %s: ready", request.stage_name)
        return pb.InitResponse(hooks=[pb.HOOK_DATA], data_needs_body=False,
                               plugin_name="python-plugin", plugin_version="1.0")

    def Hook(self, request, context):
        # Only the data hook is declared; anything else continues.
        return pb.Verdict(action=pb.ACTION_CONTINUE)

    def Data(self, request_iterator, context):
        start = None
        for frame in request_iterator:
            kind = frame.WhichOneof("frame")
            if kind == "start":
                start = frame.start
            elif kind == "end":
                break
            # body chunks (sent only if asked for) are not needed here
        if start is None:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "data stream without DataStart")
        yield pb.DataFrame(verdict=verdict_for(start))
        yield pb.DataFrame(end=pb.DataEnd())


def verdict_for(start):
    """The policy: tag every message, reject "python-reject" subjects."""
    subject = next((h.value for h in start.headers if h.name.lower() == "subject"), "")
    if "python-reject" in subject:
        return pb.Verdict(action=pb.ACTION_REJECT,
                          reply=pb.Reply(code=550, enhanced="5.7.1", text="rejected by the python plugin"),
                          reason="subject contains python-reject")
    tag = pb.Edit(add_header=pb.AddHeader(name="X-Python-Plugin", value="seen"))
    return pb.Verdict(action=pb.ACTION_CONTINUE, edits=[tag])


class Health(health_pb2_grpc.HealthServicer):
    """go-plugin's client checks that service "plugin" is SERVING."""

    def Check(self, request, context):
        if request.service in ("", "plugin"):
            return health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVING)
        return health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVICE_UNKNOWN)


class Controller(grpc_controller_pb2_grpc.GRPCControllerServicer):
    """Shutdown from the core ends the process."""

    def __init__(self, stop):
        self.stop = stop

    def Shutdown(self, request, context):
        self.stop.set()
        return grpc_controller_pb2.Empty()


def main():
    if os.environ.get(COOKIE_KEY) != COOKIE_VALUE:
        sys.stderr.write("This is a Sluice plugin: Sluice starts it, it is not run by hand.\n")
        return 1
    setup_logging()
    # Ctrl-C in the core's terminal reaches the whole process group; the
    # core decides when its plugins stop (go-plugin plugins do the same).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # So does a SIGTERM to the group (kill -TERM -PGID, systemd's default
    # KillMode), while the core still drains its sessions through this
    # process: it is caught and dropped, not SIG_IGN, which a process this
    # one started would inherit and then never stop on SIGTERM.
    signal.signal(signal.SIGTERM, lambda signum, frame: None)

    stop = threading.Event()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    plugin_pb2_grpc.add_PluginServicer_to_server(Plugin(), server)
    health_pb2_grpc.add_HealthServicer_to_server(Health(), server)
    grpc_controller_pb2_grpc.add_GRPCControllerServicer_to_server(Controller(stop), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()

    sys.stdout.write("%d|%d|tcp|127.0.0.1:%d|grpc\n" % (GO_PLUGIN_CORE_VERSION, PROTOCOL_VERSION, port))
    sys.stdout.flush()

    stop.wait()
    # A short grace lets the Shutdown reply reach the core.
    server.stop(grace=1).wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
