"""The wire format between the grader and the sandbox: plain data, nothing that runs code.

A frame is ``<header length: u32><body length: u32><header><body>``. The header is
JSON describing the value; the body holds the raw bytes of its arrays, in the order
they appear in the header, back to back. JSON values map to themselves (null, true,
false, numbers, strings, arrays as ``list``); everything else is a one-key object:

=======================  ===================================================
``{"t": [...]}``         a ``tuple``
``{"d": [[k, v], ...]}`` a ``dict`` with ``str`` keys (pairs keep order, no duplicates)
``{"f": "nan"}``         ``nan``, ``inf`` or ``-inf`` (JSON has no literal for them)
``{"a": [dtype, shape]}`` an ``ndarray``: dtype string such as ``"<f8"``, shape a list
``{"h": [id, type]}``    a handle reference (an object that stayed in the sandbox)
=======================  ===================================================

Decoding is the grader's side of the trust boundary, so it never runs code: no
pickle, no eval, no ``np.dtype`` of an arbitrary string (dtypes come from a fixed
table of numeric and bool types), and every array is rebuilt as an exact
``numpy.ndarray`` owning a copy of its bytes. Sizes, nesting depth and element counts
are checked before anything large is allocated; a violation raises ``CodecError``.
Encoding accepts exact builtins and ndarrays; an ndarray subclass is flattened to a
plain array and a NumPy scalar to its builtin, any other subclass is refused.
"""

from __future__ import annotations

import json
import math
import select
import socket
import struct
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from autograder.handles import HandleRef

PREFIX = struct.Struct("<II")  # header length, body length


@dataclass(frozen=True)
class CodecLimits:
    """What one message may hold. The defaults bound a grader-side decode to ~256 MiB."""

    max_message_bytes: int = 256 * 1024 * 1024
    max_header_bytes: int = 16 * 1024 * 1024
    max_depth: int = 64
    max_elements: int = 1_000_000
    max_ndim: int = 32


DEFAULT_LIMITS = CodecLimits()


class CodecError(ValueError):
    """A value that cannot be encoded, or a message that is malformed or too large."""


def _dtype_table() -> dict[str, np.dtype]:
    table = {}
    for code in ("?", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4", "f8", "c8", "c16"):
        for order in "<>":
            dtype = np.dtype(code).newbyteorder(order)
            table[dtype.str] = dtype
    return table


#: The only dtypes that cross, by their ``dtype.str``: bool, ints, floats, complex.
DTYPES: dict[str, np.dtype] = _dtype_table()
_SPECIAL_FLOATS = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


# -- encoding ---------------------------------------------------------------------------


def encode(value: Any, limits: CodecLimits = DEFAULT_LIMITS,
           handle_id: Callable[[HandleRef], int] | None = None) -> list:
    """``value`` as a list of buffers whose concatenation is one frame.

    ``handle_id`` maps a ``HandleRef`` to the id to send (the grader uses it to check
    that the handle belongs to the sandbox it is talking to).
    """
    buffers: list = []
    counter = [limits.max_elements]
    tree = _to_tree(value, buffers, 0, counter, limits, handle_id)
    try:
        header = _JSON_ENCODER.encode(tree).encode("ascii")
    except ValueError as error:  # e.g. an int with more digits than Python will print
        raise CodecError(f"cannot encode: {error}") from None
    body_length = sum(len(buffer) for buffer in buffers)
    if len(header) > limits.max_header_bytes:
        raise CodecError(f"the value's description is too large ({len(header)} bytes)")
    if len(header) + body_length > limits.max_message_bytes:
        raise CodecError(f"the value is too large to send ({_mib(len(header) + body_length)} MiB; "
                         f"at most {_mib(limits.max_message_bytes)} MiB)")
    return [PREFIX.pack(len(header), body_length), header, *buffers]


def _to_tree(value, buffers, depth, counter, limits, handle_id):
    counter[0] -= 1
    if counter[0] < 0:
        raise CodecError(f"more than {limits.max_elements} values in one message")
    if depth > limits.max_depth:
        raise CodecError(f"values nested more than {limits.max_depth} levels deep")
    kind = type(value)
    if value is None or kind is bool or kind is int or kind is str:
        return value
    if kind is float:
        return value if math.isfinite(value) else {"f": repr(value)}
    if kind is list:
        return [_to_tree(item, buffers, depth + 1, counter, limits, handle_id) for item in value]
    if kind is tuple:
        return {"t": [_to_tree(item, buffers, depth + 1, counter, limits, handle_id) for item in value]}
    if kind is dict:
        pairs = []
        for key, item in value.items():
            if type(key) is not str:
                raise CodecError(f"dict keys must be str, not {type(key).__name__}")
            pairs.append([key, _to_tree(item, buffers, depth + 1, counter, limits, handle_id)])
        return {"d": pairs}
    if kind is HandleRef:
        ref_id = handle_id(value) if handle_id is not None else value.id
        return {"h": [ref_id, value.type_name]}
    if isinstance(value, np.ndarray):
        return _array_to_tree(value, buffers, limits)
    if isinstance(value, np.generic) and value.dtype.str in DTYPES:
        return _to_tree(np.ndarray.item(np.asarray(value)), buffers, depth, counter, limits, handle_id)
    raise CodecError(f"values of type {kind.__module__}.{kind.__qualname__} cannot be sent")


def _array_to_tree(value: np.ndarray, buffers: list, limits: CodecLimits):
    # ndarray's own methods: a subclass's overrides (view, tobytes, __array__) never run.
    array = np.ndarray.view(value, np.ndarray)
    dtype = array.dtype
    if dtype.str not in DTYPES or dtype.fields is not None or dtype.subdtype is not None:
        raise CodecError(f"arrays of dtype {dtype} cannot be sent (numbers and bools only)")
    if array.ndim > limits.max_ndim:
        raise CodecError(f"arrays may have at most {limits.max_ndim} dimensions")
    if not array.flags.c_contiguous:
        array = np.ndarray.copy(array, order="C")
    if array.size:
        buffers.append(memoryview(np.ndarray.view(array.reshape(-1), np.uint8)))
    return {"a": [dtype.str, list(array.shape)]}


def _mib(size: int) -> str:
    return f"{size / 2**20:.0f}"


# -- decoding ---------------------------------------------------------------------------


def decode(header: bytes, body, limits: CodecLimits = DEFAULT_LIMITS,
           handle: Callable[[Any, Any], Any] | None = None) -> Any:
    """Rebuild the value of one frame from its header and body.

    ``handle(id, type_name)`` makes the object for a handle reference (default
    ``HandleRef``, after checking the types). Raises ``CodecError`` for anything that
    is not exactly the format above.
    """
    if len(header) > limits.max_header_bytes:
        raise CodecError("message header too large")
    try:
        tree = _JSON_DECODER.decode(bytes(header).decode("ascii"))
    except (ValueError, RecursionError) as error:  # JSONDecodeError is a ValueError
        raise CodecError(f"malformed message header: {str(error)[:200]}") from None
    state = _DecodeState(memoryview(body), limits, handle or _default_handle)
    value = state.build(tree, 0)
    if state.cursor != len(state.body):
        raise CodecError("message body holds bytes no array claims")
    return value


def _refuse_constant(name: str):
    raise CodecError(f"malformed message header: literal {name}")


#: Made once: json.dumps and json.loads with options build a new one for every message.
_JSON_ENCODER = json.JSONEncoder(allow_nan=False, separators=(",", ":"))
_JSON_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)


def _default_handle(ref_id, type_name) -> HandleRef:
    if type(ref_id) is not int or not 0 <= ref_id < 2**63:
        raise CodecError("malformed handle id")
    if type(type_name) is not str or len(type_name) > 1000:
        raise CodecError("malformed handle type")
    return HandleRef(ref_id, type_name)


class _DecodeState:
    def __init__(self, body: memoryview, limits: CodecLimits, handle):
        self.body = body
        self.limits = limits
        self.handle = handle
        self.cursor = 0
        self.budget = limits.max_elements

    def build(self, node, depth: int):
        self.budget -= 1
        if self.budget < 0:
            raise CodecError(f"more than {self.limits.max_elements} values in one message")
        if depth > self.limits.max_depth:
            raise CodecError(f"values nested more than {self.limits.max_depth} levels deep")
        kind = type(node)
        if node is None or kind is bool or kind is int or kind is float or kind is str:
            return node
        if kind is list:
            return [self.build(item, depth + 1) for item in node]
        if kind is not dict or len(node) != 1:
            raise CodecError("malformed message header: unknown node")
        (tag, payload), = node.items()
        if tag == "t" and type(payload) is list:
            return tuple(self.build(item, depth + 1) for item in payload)
        if tag == "d" and type(payload) is list:
            return self._dict(payload, depth)
        if tag == "f" and type(payload) is str and payload in _SPECIAL_FLOATS:
            return _SPECIAL_FLOATS[payload]
        if tag == "a" and type(payload) is list and len(payload) == 2:
            return self._array(*payload)
        if tag == "h" and type(payload) is list and len(payload) == 2:
            return self.handle(*payload)
        raise CodecError(f"malformed message header: bad {tag[:20]!r} node")

    def _dict(self, pairs: list, depth: int) -> dict:
        result = {}
        for pair in pairs:
            if type(pair) is not list or len(pair) != 2 or type(pair[0]) is not str:
                raise CodecError("malformed message header: bad dict entry")
            if pair[0] in result:
                raise CodecError("malformed message header: duplicate dict key")
            result[pair[0]] = self.build(pair[1], depth + 1)
        return result

    def _array(self, dtype_name, shape) -> np.ndarray:
        dtype = DTYPES.get(dtype_name) if type(dtype_name) is str else None
        if dtype is None:
            raise CodecError("malformed message header: array dtype not allowed")
        if type(shape) is not list or len(shape) > self.limits.max_ndim or \
                any(type(n) is not int or n < 0 for n in shape):
            raise CodecError("malformed message header: bad array shape")
        count = math.prod(shape)
        nbytes = count * dtype.itemsize
        if nbytes > len(self.body) - self.cursor:
            raise CodecError("malformed message: an array is larger than the message body")
        raw = self.body[self.cursor:self.cursor + nbytes]
        self.cursor += nbytes
        array = np.frombuffer(raw, dtype=dtype, count=count).reshape(shape).copy()
        if dtype.kind == "b" and count and np.frombuffer(raw, np.uint8).max() > 1:
            raise CodecError("malformed message: bool array holds values other than 0 and 1")
        return array


# -- frames on a socket -------------------------------------------------------------------


class Timeout(Exception):
    """No complete frame arrived before the deadline."""


class Closed(Exception):
    """The other end closed the connection (or died)."""


def send(sock: socket.socket, value: Any, limits: CodecLimits = DEFAULT_LIMITS,
         handle_id: Callable[[HandleRef], int] | None = None) -> None:
    """Encode ``value`` and write it as one frame (blocking)."""
    send_frame(sock, encode(value, limits, handle_id))


def send_frame(sock: socket.socket, buffers: list) -> None:
    """Write a frame made by ``encode`` (blocking, or up to the socket's timeout)."""
    try:
        if sum(len(b) for b in buffers) <= 65536:
            sock.sendall(b"".join(buffers))
        else:
            for buffer in buffers:
                sock.sendall(buffer)
    except (BrokenPipeError, ConnectionResetError) as error:
        raise Closed(str(error)) from None


def receive(sock: socket.socket, deadline: float | None = None,
            limits: CodecLimits = DEFAULT_LIMITS, handle=None) -> Any:
    """Read one frame and decode it. ``deadline`` is a ``time.monotonic()`` value.

    Raises ``Timeout`` (the frame may be half read: the connection is then unusable),
    ``Closed`` or ``CodecError``; a length beyond the limits is refused before reading.
    """
    prefix = _read_exactly(sock, PREFIX.size, deadline)
    header_length, body_length = PREFIX.unpack(prefix)
    if header_length > limits.max_header_bytes or header_length + body_length > limits.max_message_bytes:
        raise CodecError(f"message too large ({header_length + body_length} bytes)")
    header = _read_exactly(sock, header_length, deadline)
    body = _read_exactly(sock, body_length, deadline)
    return decode(header, body, limits, handle)


def _read_exactly(sock: socket.socket, size: int, deadline: float | None) -> bytearray:
    buffer = bytearray(size)
    view = memoryview(buffer)
    got = 0
    poller = None
    while got < size:
        if deadline is not None:
            if poller is None:
                poller = select.poll()
                poller.register(sock, select.POLLIN)
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not poller.poll(remaining * 1000):
                raise Timeout()
        try:
            count = sock.recv_into(view[got:], size - got)
        except (ConnectionResetError, OSError) as error:
            raise Closed(str(error)) from None
        if count == 0:
            raise Closed("connection closed")
        got += count
    return buffer
