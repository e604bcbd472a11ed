#!/usr/bin/env python3
"""Mock upstream LLM API server for llm-relay integration tests.

Standard library only.  Usage:

    python3 tests/mock_upstream.py [--host 127.0.0.1] [--port 0]
                                   [--port-file FILE] [--quiet]

Behaviour is driven by a top-level "mock" object in the JSON request body
(see the README-style notes at the bottom of this file, or the lead's
report).  Control endpoints:

    GET  /__requests  -> JSON array of recorded requests
    POST /__reset     -> clear the record and the busy counters, release holds
    POST /__release   -> body NAME: requests with "hold": NAME answer now
    GET  /__health    -> {"ok":true}
    POST /__default_mock -> body JSON object: the "mock" of every request
                        that has none (a translating relay drops unknown
                        members such as "mock"); cleared by /__reset
"""

import argparse
import base64
import calendar
import hashlib
import hmac
import http.server
import json
import os
import re
import signal
import socket
import struct
import sys
import threading
import time
import urllib.parse

CANNED_TEXT = "你好!我是模拟上游。"
CREATED = 1700000000
DEFAULT_MODEL = "mock-model"

OPENAI_USAGE = {"prompt_tokens": 11, "completion_tokens": 22, "total_tokens": 33}
ANTHROPIC_USAGE = {"input_tokens": 10, "output_tokens": 20,
                   "cache_creation_input_tokens": 3, "cache_read_input_tokens": 4}

GARBAGE = [
    b"\x00\x01\x02garbage\xff\xfe not sse at all {{{ \x7f\n",
    b"<html><body><h1>502 Bad Gateway</h1></body></html>\r\n",
    b"\x89PNG\r\n\x1a\n\x80\x81\xc3\x28 binary junk ]]]\n\n",
]

CLIENT_GONE_ERRORS = (BrokenPipeError, ConnectionResetError,
                      ConnectionAbortedError)

QUIET = False
DEFAULT_MOCK = {}


def dumps(obj):
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


# --------------------------------------------------------------------------
# Request recording
# --------------------------------------------------------------------------

# The fake AWS account (bedrock): access key id -> secret, and the model
# ids its Bedrock serves.
AWS_CREDS = {"AKIDRELAYTEST": "relay/Test+Secret/Key0123456789abcdef"}
BEDROCK_MODELS = ("anthropic.claude-3-5-sonnet-20241022-v2:0",
                  "us.anthropic.claude-sonnet-4-20250514-v1:0")

# The fake Azure resource's deployments (azure_gate).
AZURE_DEPLOYMENTS = ("gpt-4o-prod", "mock-model")


class Recorder:
    def __init__(self):
        self.lock = threading.Lock()
        self.records = []
        self.seq = 0

    def add(self, method, path, headers, body):
        with self.lock:
            self.seq += 1
            rec = {
                "seq": self.seq,
                "time": time.time(),
                "method": method,
                "path": path,
                "headers": [[k, v] for k, v in headers],
                "body_b64": base64.b64encode(body).decode("ascii"),
                "client_gone": False,
            }
            self.records.append(rec)
            return rec

    def update(self, rec, key, value):
        with self.lock:
            rec[key] = value

    def append_to(self, rec, key, value):
        with self.lock:
            rec.setdefault(key, []).append(value)

    def dump(self):
        with self.lock:
            return dumps(self.records).encode("utf-8")

    def reset(self):
        with self.lock:
            self.records = []
            self.seq = 0


RECORDER = Recorder()


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------

def to_float(v, default=0.0):
    try:
        if v is None or isinstance(v, bool):
            return default
        return float(v)
    except (TypeError, ValueError):
        return default


def to_int(v, default=None):
    try:
        if v is None or isinstance(v, bool):
            return default
        return int(v)
    except (TypeError, ValueError):
        return default


def crlfify(b):
    """Turn bare LF line ends into CRLF (leave existing CRLF alone)."""
    return b.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def sse(data_obj, event=None):
    s = ""
    if event is not None:
        s += "event: %s\n" % event
    s += "data: %s\n\n" % (data_obj if isinstance(data_obj, str) else dumps(data_obj))
    return s.encode("utf-8")


def grow(i, n, final):
    """Monotone growing token count for step i (1..n) out of n, < final."""
    return max(1, (final * i) // (n + 1))


# --------------------------------------------------------------------------
# Event generators (lazy)
# --------------------------------------------------------------------------

def openai_chunk(model, choices, usage=None):
    obj = {"id": "chatcmpl-mock", "object": "chat.completion.chunk",
           "created": CREATED, "model": model, "choices": choices}
    if usage is not None:
        obj["usage"] = usage
    return obj


def gen_openai(model, n, style):
    if style in ("option", "option_off"):
        # a real OpenAI stream: usage only with stream_options.include_usage,
        # then every chunk says "usage":null and one last chunk has no choices
        for i in range(1, n + 1):
            c = openai_chunk(model, [{"index": 0, "delta": {"content": "词%d" % i},
                                     "finish_reason": None}])
            if style == "option":
                c["usage"] = None
            yield sse(c)
        c = openai_chunk(model, [{"index": 0, "delta": {}, "finish_reason": "stop"}])
        if style == "option":
            c["usage"] = None
        yield sse(c)
        if style == "option":
            yield sse(openai_chunk(model, [], dict(OPENAI_USAGE)))
        yield sse("[DONE]")
        return
    for i in range(1, n + 1):
        usage = None
        if style == "cumulative":
            c = grow(i, n, 22)
            usage = {"prompt_tokens": 11, "completion_tokens": c,
                     "total_tokens": 11 + c}
        yield sse(openai_chunk(model, [{"index": 0, "delta": {"content": "词%d" % i},
                                        "finish_reason": None}], usage))
    if style == "none":
        yield sse(openai_chunk(model, [{"index": 0, "delta": {},
                                        "finish_reason": "stop"}]))
    else:
        yield sse(openai_chunk(model, [], dict(OPENAI_USAGE)))
    yield sse("[DONE]")


def gen_anthropic(model, n, style):
    msg = {"id": "msg_mock", "type": "message", "role": "assistant",
           "model": model, "content": []}
    if style != "none":
        msg["usage"] = {"input_tokens": 10, "output_tokens": 1,
                        "cache_creation_input_tokens": 3,
                        "cache_read_input_tokens": 4}
    yield sse({"type": "message_start", "message": msg}, "message_start")
    yield sse({"type": "content_block_start", "index": 0,
               "content_block": {"type": "text", "text": ""}},
              "content_block_start")
    for i in range(1, n + 1):
        ev = {"type": "content_block_delta", "index": 0,
              "delta": {"type": "text_delta", "text": "词%d" % i}}
        if style == "cumulative":
            ev["usage"] = {"output_tokens": 1 + grow(i, n, 19)}
        yield sse(ev, "content_block_delta")
    yield sse({"type": "content_block_stop", "index": 0}, "content_block_stop")
    md = {"type": "message_delta", "delta": {"stop_reason": "end_turn"}}
    if style != "none":
        md["usage"] = {"output_tokens": 20}
    yield sse(md, "message_delta")
    yield sse({"type": "message_stop"}, "message_stop")


def _text_of(content):
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content
                       if isinstance(p, dict) and p.get("type") == "text")
    return ""


def last_tool_result(fmt, messages):
    """The text of the tool result the conversation ends with, or None."""
    if not isinstance(messages, list) or not messages:
        return None
    last = messages[-1]
    if not isinstance(last, dict):
        return None
    if fmt == "openai":
        # OpenAI: the tool messages may be followed by nothing else
        tools = []
        for m in reversed(messages):
            if not isinstance(m, dict) or m.get("role") != "tool":
                break
            tools.append(_text_of(m.get("content")))
        return "\n".join(reversed(tools)) if tools else None
    c = last.get("content")
    if last.get("role") != "user" or not isinstance(c, list):
        return None
    res = [_text_of(b.get("content")) for b in c
           if isinstance(b, dict) and b.get("type") == "tool_result"]
    return "\n".join(res) if res else None


TURN_USAGE_IN, TURN_USAGE_OUT = 30, 7


def turn_json(fmt, model, name, args, text):
    if fmt == "anthropic":
        block = ({"type": "text", "text": text} if text is not None else
                 {"type": "tool_use", "id": "toolu_mock1", "name": name,
                  "input": json.loads(args)})
        return {"id": "msg_turn", "type": "message", "role": "assistant", "model": model,
                "content": [block], "stop_reason": "end_turn" if text is not None else "tool_use",
                "stop_sequence": None,
                "usage": {"input_tokens": TURN_USAGE_IN, "output_tokens": TURN_USAGE_OUT}}
    msg = {"role": "assistant", "content": text}
    if text is None:
        msg["tool_calls"] = [{"id": "call_mock1", "type": "function",
                              "function": {"name": name, "arguments": args}}]
    return {"id": "chatcmpl-turn", "object": "chat.completion", "created": CREATED,
            "model": model, "choices": [{"index": 0, "message": msg,
                                         "finish_reason": "stop" if text is not None else "tool_calls"}],
            "usage": {"prompt_tokens": TURN_USAGE_IN, "completion_tokens": TURN_USAGE_OUT,
                      "total_tokens": TURN_USAGE_IN + TURN_USAGE_OUT}}


def gen_openai_turn(model, name, args, text, usage):
    def ch(delta, finish=None):
        return sse(openai_chunk(model, [{"index": 0, "delta": delta, "finish_reason": finish}]))
    yield ch({"role": "assistant", "content": ""})
    if text is not None:
        yield ch({"content": text[:5]})
        yield ch({"content": text[5:]})
        yield ch({}, "stop")
    else:
        half = len(args) // 2
        yield ch({"tool_calls": [{"index": 0, "id": "call_mock1", "type": "function",
                                  "function": {"name": name, "arguments": ""}}]})
        yield ch({"tool_calls": [{"index": 0, "function": {"arguments": args[:half]}}]})
        yield ch({"tool_calls": [{"index": 0, "function": {"arguments": args[half:]}}]})
        yield ch({}, "tool_calls")
    if usage:
        yield sse(openai_chunk(model, [], {"prompt_tokens": TURN_USAGE_IN,
                                           "completion_tokens": TURN_USAGE_OUT,
                                           "total_tokens": TURN_USAGE_IN + TURN_USAGE_OUT}))
    yield sse("[DONE]")


def gen_anthropic_turn(model, name, args, text):
    yield sse({"type": "message_start", "message": {
        "id": "msg_turn", "type": "message", "role": "assistant", "model": model,
        "content": [], "stop_reason": None, "stop_sequence": None,
        "usage": {"input_tokens": TURN_USAGE_IN, "output_tokens": 1}}}, "message_start")
    if text is not None:
        yield sse({"type": "content_block_start", "index": 0,
                   "content_block": {"type": "text", "text": ""}}, "content_block_start")
        yield sse({"type": "content_block_delta", "index": 0,
                   "delta": {"type": "text_delta", "text": text}}, "content_block_delta")
    else:
        half = len(args) // 2
        yield sse({"type": "content_block_start", "index": 0,
                   "content_block": {"type": "tool_use", "id": "toolu_mock1", "name": name,
                                     "input": {}}}, "content_block_start")
        for part in (args[:half], args[half:]):
            yield sse({"type": "content_block_delta", "index": 0,
                       "delta": {"type": "input_json_delta", "partial_json": part}},
                      "content_block_delta")
    yield sse({"type": "content_block_stop", "index": 0}, "content_block_stop")
    yield sse({"type": "message_delta",
               "delta": {"stop_reason": "end_turn" if text is not None else "tool_use",
                         "stop_sequence": None},
               "usage": {"output_tokens": TURN_USAGE_OUT}}, "message_delta")
    yield sse({"type": "message_stop"}, "message_stop")


def gen_huge(model, fmt, mb, style):
    limit = int(mb * 1024 * 1024)
    sent = 0
    pad = ("abcdefghijklmnopqrstuvwxyz0123456789" * 30)
    i = 0
    if fmt == "anthropic":
        msg = {"id": "msg_mock", "type": "message", "role": "assistant",
               "model": model, "content": []}
        if style != "none":
            msg["usage"] = {"input_tokens": 10, "output_tokens": 1,
                            "cache_creation_input_tokens": 3,
                            "cache_read_input_tokens": 4}
        for ev in (sse({"type": "message_start", "message": msg}, "message_start"),
                   sse({"type": "content_block_start", "index": 0,
                        "content_block": {"type": "text", "text": ""}},
                       "content_block_start")):
            sent += len(ev)
            yield ev
        while sent < limit:
            i += 1
            text = ("[%d]" % i) + pad[: 1024 - 160]
            ev = sse({"type": "content_block_delta", "index": 0,
                      "delta": {"type": "text_delta", "text": text}},
                     "content_block_delta")
            sent += len(ev)
            yield ev
        yield sse({"type": "content_block_stop", "index": 0}, "content_block_stop")
        md = {"type": "message_delta", "delta": {"stop_reason": "end_turn"}}
        if style != "none":
            md["usage"] = {"output_tokens": 20}
        yield sse(md, "message_delta")
        yield sse({"type": "message_stop"}, "message_stop")
        return
    while sent < limit:
        i += 1
        text = ("[%d]" % i) + pad[: 1024 - 180]
        ev = sse(openai_chunk(model, [{"index": 0, "delta": {"content": text},
                                       "finish_reason": None}]))
        sent += len(ev)
        yield ev
    if style == "none":
        yield sse(openai_chunk(model, [{"index": 0, "delta": {},
                                        "finish_reason": "stop"}]))
    else:
        yield sse(openai_chunk(model, [], dict(OPENAI_USAGE)))
    yield sse("[DONE]")


# --------------------------------------------------------------------------
# HTTP handler
# --------------------------------------------------------------------------

class ClientGone(Exception):
    pass


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mock-upstream/1.0"

    def version_string(self):
        return self.server_version

    def setup(self):
        super().setup()
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    # ---- logging ---------------------------------------------------------
    def log_message(self, fmt, *args):
        if not QUIET:
            sys.stderr.write("[mock %s] %s\n" % (time.strftime("%H:%M:%S"), fmt % args))
            sys.stderr.flush()

    # ---- body reading ----------------------------------------------------
    def read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            parts = []
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    raise ClientGone()
                size_s = line.split(b";", 1)[0].strip()
                try:
                    size = int(size_s, 16)
                except ValueError:
                    raise ClientGone()
                if size == 0:
                    # trailers until empty line
                    while True:
                        t = self.rfile.readline(65537)
                        if not t or t in (b"\r\n", b"\n"):
                            break
                    break
                data = self.rfile.read(size)
                if len(data) != size:
                    raise ClientGone()
                parts.append(data)
                self.rfile.readline(65537)  # CRLF after chunk data
            return b"".join(parts)
        cl = self.headers.get("Content-Length")
        if cl:
            try:
                n = int(cl)
            except ValueError:
                n = 0
            if n > 0:
                data = self.rfile.read(n)
                if len(data) != n:
                    raise ClientGone()
                return data
        return b""

    # ---- low level responses ----------------------------------------------
    def send_simple(self, status, body, content_type="application/json",
                    extra_headers=None):
        if isinstance(body, str):
            body = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra_headers or {}).items():
            self.send_header(str(k), str(v))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.wfile.flush()

    def write_chunk(self, data):
        if not data:
            return
        self.wfile.write(b"%x\r\n" % len(data) + data + b"\r\n")
        self.wfile.flush()

    def abort_connection(self, rst=False):
        self.close_connection = True
        if rst:
            try:
                # linger 0 + close without shutdown(SHUT_WR) => TCP RST
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                           struct.pack("ii", 1, 0))
                self.connection.close()
            except OSError:
                pass

    # ---- dispatch ---------------------------------------------------------
    def handle_any(self):
        try:
            body = self.read_body()
        except (ClientGone,) + CLIENT_GONE_ERRORS:
            self.close_connection = True
            return
        path = self.path.split("?", 1)[0]
        try:
            if path.startswith("/__"):
                self.control(path, body)
                return
            rec = RECORDER.add(self.command, self.path, self.headers.items(), body)
            # which of the client's connections (tests find its process by it)
            RECORDER.update(rec, "peer_port", self.client_address[1])
            try:
                self.behave(path, body, rec)
            except CLIENT_GONE_ERRORS:
                RECORDER.update(rec, "client_gone", True)
                self.close_connection = True
        except CLIENT_GONE_ERRORS:
            self.close_connection = True

    do_POST = do_GET = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = handle_any

    def control(self, path, body):
        if path == "/__requests" and self.command == "GET":
            self.send_simple(200, RECORDER.dump())
        elif path == "/__reset" and self.command in ("POST", "GET"):
            RECORDER.reset()
            with _BUSY_LOCK:
                _BUSY.clear()
            release_hold(None)
            DEFAULT_MOCK.clear()
            self.send_simple(200, b'{"ok":true}')
        elif path == "/__default_mock" and self.command == "POST":
            obj = json.loads(body.decode("utf-8") or "{}")
            DEFAULT_MOCK.clear()
            DEFAULT_MOCK.update(obj if isinstance(obj, dict) else {})
            self.send_simple(200, b'{"ok":true}')
        elif path == "/__release" and self.command == "POST":
            release_hold(body.decode("utf-8", "replace").strip())
            self.send_simple(200, b'{"ok":true}')
        elif path == "/__health":
            self.send_simple(200, b'{"ok":true}')
        else:
            self.send_simple(404, dumps({"error": {"message": "unknown control endpoint",
                                                   "type": "not_found", "code": 404}}))

    def azure_gate(self):
        """Azure OpenAI's data plane, as the real service checks it: the
        key in api-key (401 without), deployment-style paths
        /openai/deployments/{name}/... with an api-version query (404
        for a missing version or an unknown deployment), or the v1 style
        /openai/v1/... True when the request may go on."""
        path, _, query = self.path.partition("?")
        if not self.headers.get("api-key"):
            self.send_simple(401, dumps({"error": {
                "code": "401", "message": "Access denied due to invalid subscription key"
                " or wrong API endpoint. Make sure to provide a valid key for an active"
                " subscription and use a correct regional API endpoint for your resource."}}))
            return False
        parts = path.split("/")
        if path.startswith("/openai/v1/"):
            return True
        if "api-version=" not in query:
            self.send_simple(404, dumps({"error": {"code": "404",
                                                   "message": "Resource not found"}}))
            return False
        if path == "/openai/models":
            return True
        if len(parts) < 5 or parts[2] != "deployments" or parts[3] not in AZURE_DEPLOYMENTS:
            self.send_simple(404, dumps({"error": {
                "code": "DeploymentNotFound", "message": "The API deployment for this"
                " resource does not exist. If you created the deployment within the last"
                " 5 minutes, please wait a moment and try again."}}))
            return False
        return True

    def bedrock(self, path, body):
        """AWS Bedrock InvokeModel, checked as AWS checks it: the SigV4
        signature recomputed from the request (canonical request with the
        path encoded once more, string to sign, derived key) with the
        secret of the access key id, the date fresh, Bedrock's body rule
        (no model member, anthropic_version bedrock-2023-05-31), a known
        model id. Answers an Anthropic message."""
        def deny(status, msg, kind="AccessDeniedException"):
            self.send_simple(status, dumps({"message": msg}), "application/json",
                             {"x-amzn-ErrorType": kind})
        m = re.match(r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request,"
                     r" ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$",
                     self.headers.get("Authorization", ""))
        if not m:
            return deny(403, "Missing Authentication Token", "MissingAuthenticationTokenException")
        akid, day, region, service, signed, sig = m.groups()
        secret = AWS_CREDS.get(akid)
        if secret is None:
            return deny(403, "The security token included in the request is invalid.",
                        "UnrecognizedClientException")
        amz = self.headers.get("x-amz-date", "")
        try:
            t = calendar.timegm(time.strptime(amz, "%Y%m%dT%H%M%SZ"))
        except ValueError:
            return deny(403, "Missing or invalid x-amz-date", "IncompleteSignatureException")
        if abs(time.time() - t) > 300 or not amz.startswith(day):
            return deny(403, "Signature expired", "InvalidSignatureException")
        names = signed.split(";")
        if "host" not in names or "x-amz-date" not in names or service != "bedrock":
            return deny(403, "host and x-amz-date must be signed, service bedrock",
                        "IncompleteSignatureException")
        raw, _, query = self.path.partition("?")
        q = "&".join(sorted("%s=%s" % (urllib.parse.quote(k, safe="-_.~"),
                                       urllib.parse.quote(v, safe="-_.~"))
                            for k, v in urllib.parse.parse_qsl(query, keep_blank_values=True)))
        hdrs = "".join("%s:%s\n" % (n, " ".join((self.headers.get(n) or "").split()))
                       for n in names)
        canon = "\n".join([self.command, urllib.parse.quote(raw, safe="/-_.~"), q, hdrs,
                           signed, hashlib.sha256(body).hexdigest()])
        scope = "%s/%s/%s/aws4_request" % (day, region, service)
        sts = "\n".join(["AWS4-HMAC-SHA256", amz, scope,
                         hashlib.sha256(canon.encode()).hexdigest()])
        k = ("AWS4" + secret).encode()
        for part in (day, region, service, "aws4_request"):
            k = hmac.new(k, part.encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(hmac.new(k, sts.encode(), hashlib.sha256).hexdigest(), sig):
            return deny(403, "The request signature we calculated does not match the signature"
                        " you provided. Check your AWS Secret Access Key and signing method."
                        " Consult the service documentation for details.",
                        "InvalidSignatureException")
        mid = urllib.parse.unquote(raw[len("/model/"):-len("/invoke")])
        try:
            req = json.loads(body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            req = None
        if not isinstance(req, dict) or "model" in req or \
                req.get("anthropic_version") != "bedrock-2023-05-31":
            return deny(400, "Malformed input request: #: extraneous key [model] is not"
                        " permitted or anthropic_version is not bedrock-2023-05-31, please"
                        " reformat your input and try again.", "ValidationException")
        if mid not in BEDROCK_MODELS:
            return deny(400, "The provided model identifier is invalid.", "ValidationException")
        self.send_simple(200, dumps({
            "id": "msg_bdrk_mock", "type": "message", "role": "assistant", "model": mid,
            "content": [{"type": "text", "text": "hello from bedrock"}],
            "stop_reason": "end_turn", "stop_sequence": None,
            "usage": {"input_tokens": 12, "output_tokens": 5}}))

    def behave(self, path, body, rec):
        if path.startswith("/openai/") and not self.azure_gate():
            return
        if path.startswith("/model/") and path.endswith("/invoke"):
            return self.bedrock(path, body)
        if self.command == "GET":
            if path == "/v1/models":
                self.send_simple(200, dumps({"object": "list", "data": [
                    {"id": "mock-model", "object": "model", "created": CREATED,
                     "owned_by": "mock"},
                    {"id": "gpt-4o-mini", "object": "model", "created": CREATED,
                     "owned_by": "mock"},
                    {"id": "claude-3-5-sonnet-20241022", "object": "model",
                     "created": CREATED, "owned_by": "mock"},
                ]}))
            else:
                self.send_simple(404, dumps({"error": {"message": "not found: " + path,
                                                       "type": "not_found",
                                                       "code": 404}}))
            return

        req = None
        try:
            req = json.loads(body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            req = None
        if not isinstance(req, dict):
            req = {}
        mock = req.get("mock")
        if not isinstance(mock, dict):
            mock = dict(DEFAULT_MOCK)
        model = req.get("model")
        if not isinstance(model, str):
            model = DEFAULT_MODEL

        fmt = mock.get("format")
        if fmt not in ("openai", "anthropic"):
            fmt = "anthropic" if path.rstrip("/").endswith("/messages") else "openai"

        if isinstance(mock.get("hold"), str):
            # held until POST /__release with this name (or /__reset): a
            # test decides when the upstream answers, no clock involved
            wait_hold(mock["hold"])
            RECORDER.update(rec, "hold_end", time.time())
        stall = to_float(mock.get("stall"), 0.0)
        if stall > 0:
            time.sleep(stall)
            RECORDER.update(rec, "stall_end", time.time())

        status = to_int(mock.get("status"), 200) or 200
        extra = mock.get("headers") if isinstance(mock.get("headers"), dict) else {}
        busy_key = mock.get("busy_key")
        if isinstance(busy_key, str) and busy_times_left(busy_key, to_int(mock.get("busy_times"), 0)):
            # an overloaded upstream: refuse the first busy_times requests of this key
            hdrs = {}
            if mock.get("retry_after") is not None:
                hdrs["Retry-After"] = str(mock.get("retry_after"))
            self.send_simple(to_int(mock.get("busy_status"), 429) or 429,
                             dumps({"error": {"message": "mock upstream busy",
                                              "type": "rate_limit_error", "code": 429}}),
                             "application/json", hdrs)
            return
        ps = mock.get("port_status")
        if isinstance(ps, dict) and str(self.server.server_address[1]) in ps:
            # several mocks, one body: only the mock on that port fails
            # (issue 13's failover tests)
            code = to_int(ps[str(self.server.server_address[1])], 503) or 503
            hdrs = {}
            if mock.get("retry_after") is not None:
                hdrs["Retry-After"] = str(mock.get("retry_after"))
            self.send_simple(code, dumps({"error": {"message": "mock backend failing",
                                                    "type": "server_error", "code": code}}),
                             "application/json", hdrs)
            return
        # a real client's stream: true gets a real event stream
        mode = mock.get("mode") or ("stream" if req.get("stream") is True else "json")
        if path.endswith("/messages/count_tokens") and "mode" not in mock:
            if os.environ.get("MOCK_NO_COUNT_TOKENS") == "1" or mock.get("no_count_tokens"):
                self.send_simple(404, dumps({"type": "error", "error": {
                    "type": "not_found_error", "message": "no count_tokens here"}}))
            else:
                self.send_simple(200, dumps({"input_tokens": 42}))
            return
        rst = bool(mock.get("rst"))

        if mode == "close":
            self.abort_connection(rst)
            return

        if mode == "tools":
            self.tool_turn(mock, fmt, model, req)
            return

        if mode == "echo":
            self.send_simple(status, body,
                             mock.get("content_type") or "application/json", extra)
            return

        if mode == "stream":
            if mock.get("usage_option"):
                so = req.get("stream_options")
                asked = isinstance(so, dict) and so.get("include_usage") is True
                mock["usage_style"] = "option" if asked else "option_off"
            self.stream(mock, fmt, model, status, extra, rec, rst)
            return

        # json mode (default)
        ctype = mock.get("content_type") or "application/json"
        if "body" in mock and mock["body"] is not None:
            b = mock["body"]
            out = b if isinstance(b, str) else dumps(b)
        elif status >= 400:
            out = dumps({"error": {"message": "mock error", "type": "server_error",
                                   "code": status}})
        elif mock.get("huge_json_mb") is not None:
            # a non-stream answer larger than the relay holds (16 MiB),
            # its usage at the very end (issue 25 point 8)
            text = "abcdefghijklmnopqrstuvwxyz012345" * int(
                to_float(mock.get("huge_json_mb"), 17.0) * 32768)
            obj = {"id": "chatcmpl-mock", "object": "chat.completion",
                   "created": CREATED, "model": model,
                   "choices": [{"index": 0,
                                "message": {"role": "assistant", "content": text},
                                "finish_reason": "stop"}]}
            if mock.get("usage") is not False:
                obj["usage"] = {"prompt_tokens": 1000, "completion_tokens": 4000000,
                                "total_tokens": 4001000}
            out = dumps(obj)
        elif fmt == "anthropic":
            obj = {"id": "msg_mock", "type": "message", "role": "assistant",
                   "model": model,
                   "content": [{"type": "text", "text": CANNED_TEXT}],
                   "stop_reason": "end_turn", "usage": dict(ANTHROPIC_USAGE)}
            if mock.get("usage") is False:
                del obj["usage"]
            out = dumps(obj)
        else:
            obj = {"id": "chatcmpl-mock", "object": "chat.completion",
                   "created": CREATED, "model": model,
                   "choices": [{"index": 0,
                                "message": {"role": "assistant", "content": CANNED_TEXT},
                                "finish_reason": "stop"}],
                   "usage": dict(OPENAI_USAGE)}
            if mock.get("usage") is False:
                del obj["usage"]
            out = dumps(obj)
        if mock.get("truncate") is not None:
            # announce the whole body, send only the first bytes, hang up
            data = out.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[:to_int(mock.get("truncate"), 0)])
            self.wfile.flush()
            self.abort_connection(rst)
            return
        self.send_simple(status, out, ctype, extra)

    # ---- a scripted tool round trip ----------------------------------------
    def tool_turn(self, mock, fmt, model, req):
        """mode "tools": a model that calls mock["tool"] = {"name", "arguments"}
        once, then answers "tool result: <what the tool returned>" when the
        conversation ends with the tool's result. In either format, streamed
        (arguments in two fragments) or not."""
        tool = mock.get("tool") if isinstance(mock.get("tool"), dict) else {}
        name = tool.get("name") or "get_weather"
        args = dumps(tool.get("arguments") or {})
        result = last_tool_result(fmt, req.get("messages"))
        text = None if result is None else "tool result: " + result[:200]
        if not req.get("tools"):
            text = CANNED_TEXT       # a side call without tools (a title, ...)
        stream = req.get("stream") is True
        if fmt == "anthropic":
            events = gen_anthropic_turn(model, name, args, text)
        else:
            so = req.get("stream_options")
            events = gen_openai_turn(model, name, args, text,
                                     isinstance(so, dict) and so.get("include_usage") is True)
        if not stream:
            self.send_simple(200, dumps(turn_json(fmt, model, name, args, text)))
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for ev in events:
            self.write_chunk(ev)
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    # ---- streaming --------------------------------------------------------
    def stream(self, mock, fmt, model, status, extra, rec, rst):
        crlf = bool(mock.get("crlf"))
        comments = bool(mock.get("comments"))
        delay = to_float(mock.get("delay"), 0.0)
        chunk_n = to_int(mock.get("chunk"), None)
        if chunk_n is not None and chunk_n <= 0:
            chunk_n = None
        chunk_delay = to_float(mock.get("chunk_delay"), 0.0)
        split_mid = bool(mock.get("split_mid_line"))
        close_after = to_int(mock.get("close_after"), None)
        stall_after = to_int(mock.get("stall_after"), None)
        stall_for = to_float(mock.get("stall_for"), 0.0)
        record_times = bool(mock.get("record_send_times"))
        n = to_int(mock.get("n"), 3)
        if n is None or n < 0:
            n = 3
        style = mock.get("usage_style") or "final"
        if style not in ("final", "cumulative", "none", "option", "option_off"):
            style = "final"

        if isinstance(mock.get("events"), list):
            # strings are sent as-is; any other JSON value becomes "data: JSON\n\n"
            events = (e.encode("utf-8") if isinstance(e, str) else sse(e)
                      for e in mock["events"])
        elif mock.get("garbage"):
            events = iter(GARBAGE)
        elif mock.get("huge_mb") is not None:
            events = gen_huge(model, fmt, to_float(mock.get("huge_mb"), 1.0), style)
        elif fmt == "anthropic":
            events = gen_anthropic(model, n, style)
        else:
            events = gen_openai(model, n, style)

        if record_times:
            RECORDER.update(rec, "send_times", [])

        self.send_response(status)
        self.send_header("Content-Type", mock.get("content_type") or "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        for k, v in extra.items():
            self.send_header(str(k), str(v))
        self.end_headers()
        self.wfile.flush()

        ping = b": ping\n\n"
        if crlf:
            ping = crlfify(ping)
        ping_for = to_float(mock.get("ping_for"), 0.0)
        if ping_for > 0:
            # an upstream that keeps the stream alive without answering
            end = time.time() + ping_for
            while time.time() < end:
                self.write_chunk(ping)
                time.sleep(to_float(mock.get("ping_every"), 0.2) or 0.2)

        count = 0
        for ev in events:
            if close_after is not None and count >= close_after:
                self.abort_connection(rst)
                return
            if stall_after is not None and count == stall_after and stall_for > 0:
                time.sleep(stall_for)
            if count > 0 and delay > 0:
                time.sleep(delay)
            if crlf:
                ev = crlfify(ev)
            if comments:
                self.write_chunk(ping)
            self.send_event(ev, chunk_n, chunk_delay, split_mid)
            count += 1
            if record_times:
                RECORDER.append_to(rec, "send_times", time.time())
        if close_after is not None and count >= close_after:
            self.abort_connection(rst)
            return
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def send_event(self, ev, chunk_n, chunk_delay, split_mid):
        if chunk_n:
            first = True
            for off in range(0, len(ev), chunk_n):
                if not first and chunk_delay > 0:
                    time.sleep(chunk_delay)
                first = False
                self.write_chunk(ev[off:off + chunk_n])
            return
        if split_mid and len(ev) > 1:
            cut = None
            pos = ev.find(b"data:")
            if pos >= 0:
                end = ev.find(b"\n", pos)
                if end < 0:
                    end = len(ev)
                cut = pos + max(1, (end - pos) // 2)
            if cut is None or cut <= 0 or cut >= len(ev):
                cut = len(ev) // 2
            self.write_chunk(ev[:cut])
            if chunk_delay > 0:
                time.sleep(chunk_delay)
            self.write_chunk(ev[cut:])
            return
        self.write_chunk(ev)


_BUSY = {}                 # busy_key -> requests refused so far
_BUSY_LOCK = threading.Lock()


def busy_times_left(key, times):
    """True while fewer than `times` requests of `key` have been refused."""
    with _BUSY_LOCK:
        n = _BUSY.get(key, 0)
        if n >= times:
            return False
        _BUSY[key] = n + 1
        return True


_HOLDS = {}                # hold name -> threading.Event
_HOLD_LOCK = threading.Lock()
HOLD_MAX = 120             # a forgotten hold never blocks a thread for good


def _hold_event(name):
    with _HOLD_LOCK:
        return _HOLDS.setdefault(name, threading.Event())


def wait_hold(name):
    _hold_event(name).wait(HOLD_MAX)


def release_hold(name):
    """Releases one hold (and later requests with its name), or all (None)."""
    if name is None:
        with _HOLD_LOCK:
            evs = list(_HOLDS.values())
            _HOLDS.clear()
        for ev in evs:
            ev.set()
        return
    _hold_event(name).set()


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, CLIENT_GONE_ERRORS) or QUIET:
            return
        super().handle_error(request, client_address)


class _Stop(Exception):
    pass


def main():
    global QUIET
    ap = argparse.ArgumentParser(description="mock LLM upstream for llm-relay tests")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args()
    QUIET = args.quiet

    srv = Server((args.host, args.port), Handler)
    port = srv.server_address[1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.replace(tmp, args.port_file)
    print("listening on %d" % port, flush=True)

    def on_signal(signum, frame):
        raise _Stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        srv.serve_forever(poll_interval=0.2)
    except (_Stop, KeyboardInterrupt):
        pass
    finally:
        try:
            srv.server_close()
        except Exception:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())

# mock keys (top-level "mock" object of the request JSON body):
#   format: "openai"|"anthropic"   mode: "json"|"echo"|"close"|"stream"
#   stall, status, content_type, body, headers, usage(false), rst(true=RST close)
#   hold: NAME - answer only after POST /__release with body NAME (or /__reset)
#   busy_key, busy_times, busy_status(429), retry_after: the first busy_times
#           requests carrying busy_key are refused (429 + Retry-After), later ones served
#   stream: events, n, usage_style(final|cumulative|none), delay, crlf, comments,
#           chunk, chunk_delay, split_mid_line, close_after, stall_after, stall_for,
#           garbage, huge_mb, record_send_times,
#           usage_option (OpenAI usage only with stream_options.include_usage),
#           ping_for/ping_every (": ping" comments first, for ping_for seconds)
#   json: truncate=N (Content-Length of the whole body, only N bytes sent),
#           huge_json_mb=M (an OpenAI answer of about M MiB, usage last;
#           usage false: none)
#   mode "tools": tool={"name", "arguments"}: calls that tool once, then answers
#           "tool result: <text>" once the conversation ends with its result
