"""The sandbox wire format: exact round trips, and a decoder that refuses what it must."""

import json
import math
import socket
import struct
import time

import numpy as np
import pytest

from autograder.handles import HandleRef
from autograder.sandbox import codec
from autograder.sandbox.codec import CodecError, CodecLimits


def frame(value, **kwargs) -> bytes:
    return b"".join(bytes(part) for part in codec.encode(value, **kwargs))


def unframe(data: bytes, **kwargs):
    header_length, body_length = codec.PREFIX.unpack(data[:8])
    assert len(data) == 8 + header_length + body_length
    return codec.decode(data[8:8 + header_length], data[8 + header_length:], **kwargs)


def round_trip(value):
    return unframe(frame(value))


def raw(header_tree, body: bytes = b"") -> bytes:
    header = json.dumps(header_tree).encode()
    return codec.PREFIX.pack(len(header), len(body)) + header + body


def same(a, b) -> bool:
    """Equal values of exactly the same types, all the way down (nan equals nan)."""
    if type(a) is not type(b):
        return False
    if type(a) is np.ndarray:
        return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")
    if type(a) in (list, tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if type(a) is dict:
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if type(a) is float and math.isnan(a):
        return math.isnan(b)
    return a == b and (type(a) is not float or math.copysign(1, a) == math.copysign(1, b))


PLAIN_VALUES = [
    None, True, False, 0, -7, 2**80, 1.5, -0.0, math.inf, -math.inf, math.nan, 1e-310,
    "", "héllo \ud800 \x00", [], (), {}, [1, (2, [3.0])], ("a",), {"b": 1, "a": [None, {"": ()}]},
    HandleRef(4, "torch.nn.modules.container.Sequential"),
]


@pytest.mark.parametrize("value", PLAIN_VALUES, ids=repr)
def test_builtins_round_trip_with_exact_types(value):
    assert same(round_trip(value), value)


@pytest.mark.parametrize("dtype", ["?", "i1", "u2", "<i4", ">i8", "u8", "f2", "f4", "<f8", ">f8", "c8", "c16"])
@pytest.mark.parametrize("shape", [(), (0,), (3,), (2, 3), (1, 0, 4), (2, 1, 2, 1)])
def test_arrays_round_trip_with_dtype_and_shape(dtype, shape):
    rng = np.random.default_rng(0)
    array = np.asarray(rng.normal(size=shape) * 100).astype(dtype)
    back = round_trip(array)
    assert type(back) is np.ndarray and same(back, array) and back.flags.writeable


def test_float_array_keeps_nan_inf_and_negative_zero_bits():
    array = np.array([np.nan, np.inf, -np.inf, -0.0, 5e-324])
    assert round_trip(array).tobytes() == array.tobytes()


def test_non_contiguous_and_readonly_arrays_arrive_as_fresh_contiguous_arrays():
    base = np.arange(24.0).reshape(4, 6)
    view = base[::2, ::-3]
    view.flags.writeable = False
    back = round_trip(view)
    assert same(back, view.copy()) and back.flags.c_contiguous and back.flags.writeable


def test_several_arrays_share_one_body_in_order():
    value = {"W1": np.ones((2, 3)), "b1": np.zeros(3, np.float32), "n": [np.arange(4), np.array(True)]}
    assert same(round_trip(value), value)


def test_numpy_scalars_arrive_as_builtins():
    back = round_trip([np.float64(1.25), np.int32(-3), np.bool_(True), np.uint64(2**64 - 1)])
    assert same(back, [1.25, -3, True, 2**64 - 1])


def test_complex_scalars_are_refused_as_plain_json_has_no_complex():
    with pytest.raises(CodecError):
        codec.encode(np.complex128(1j))


def test_ndarray_subclass_is_flattened_without_running_its_code():
    class Sneaky(np.ndarray):
        def __eq__(self, other):
            return True

        def tobytes(self, *args, **kwargs):
            raise AssertionError("subclass code ran")

        def __array__(self, *args, **kwargs):
            raise AssertionError("subclass code ran")

    sneaky = np.arange(3.0).view(Sneaky)
    back = round_trip({"x": sneaky, "m": np.ma.masked_array([1.0, 2.0], mask=[0, 1])})
    assert type(back["x"]) is np.ndarray and same(back["x"], np.arange(3.0))
    assert type(back["m"]) is np.ndarray


@pytest.mark.parametrize("value", [
    np.array([1, "a"], dtype=object), np.zeros(2, dtype=[("a", "f8")]), np.zeros(2, dtype="V8"),
    np.array(["ab"]), np.zeros(2, dtype="M8[s]"), np.zeros(1, dtype=np.longdouble),
], ids=lambda a: str(a.dtype))
def test_non_numeric_arrays_are_refused(value):
    with pytest.raises(CodecError, match="dtype"):
        codec.encode(value)


class FakeFloat(float):
    def __eq__(self, other):
        return True


class FakeList(list):
    pass


class Anything:
    def __eq__(self, other):
        return True


@pytest.mark.parametrize("value", [
    FakeFloat(1.0), FakeList([1]), Anything(), [Anything()], {"k": Anything()}, {1: "int key"},
    b"bytes", {1, 2}, 1 + 2j, lambda: None,
], ids=lambda v: type(v).__name__)
def test_fake_and_foreign_objects_are_refused(value):
    with pytest.raises(CodecError):
        codec.encode(value)


def test_encoder_limits():
    nested = []
    for _ in range(100):
        nested = [nested]
    with pytest.raises(CodecError, match="nested"):
        codec.encode(nested)
    with pytest.raises(CodecError, match="values in one message"):
        codec.encode(list(range(20)), CodecLimits(max_elements=10))
    with pytest.raises(CodecError, match="too large"):
        codec.encode(np.zeros(1000), CodecLimits(max_message_bytes=4000))


# -- the decoder against hostile frames --------------------------------------------------

MALICIOUS_HEADERS = {
    "unknown tag": {"p": "cos\nsystem\n"},
    "two keys": {"t": [], "d": []},
    "dict with int key": {"d": [[1, 2]]},
    "duplicate key": {"d": [["a", 1], ["a", 2]]},
    "bad float tag": {"f": "1e5"},
    "object dtype": {"a": ["|O", [1]]},
    "structured dtype": {"a": [[["a", "<f8"]], [1]]},
    "void dtype": {"a": ["|V8", [1]]},
    "dtype string parsed by numpy": {"a": ["f8,i4", [1]]},
    "negative shape": {"a": ["<f8", [-1]]},
    "float shape": {"a": ["<f8", [1.0]]},
    "bool in shape": {"a": ["<f8", [True]]},
    "too many dims": {"a": ["|u1", [1] * 40]},
    "array beyond body": {"a": ["<f8", [10**12, 10**12]]},
    "handle with str id": {"h": ["1", "x"]},
    "handle with negative id": {"h": [-1, "x"]},
    "handle with list type": {"h": [1, ["x"]]},
    "pickle-ish": {"__reduce__": ["os.system", ["true"]]},
}


@pytest.mark.parametrize("tree", MALICIOUS_HEADERS.values(), ids=MALICIOUS_HEADERS.keys())
def test_malicious_headers_are_rejected(tree):
    with pytest.raises(CodecError):
        unframe(raw(tree, b"\0" * 16))


@pytest.mark.parametrize("header", [
    b"NaN", b"[Infinity]", b"{not json", b"\xff\xfe", b'"\\ud800', b"1" * 5000, b"[" * 100000 + b"]" * 100000,
], ids=["NaN", "Infinity", "broken", "not ascii", "unterminated", "huge int", "deep brackets"])
def test_broken_json_is_rejected(header):
    with pytest.raises(CodecError):
        unframe(codec.PREFIX.pack(len(header), 0) + header)


def test_leftover_body_bytes_are_rejected():
    with pytest.raises(CodecError, match="no array claims"):
        unframe(raw([1], b"extra"))


def test_bool_array_with_bytes_other_than_0_and_1_is_rejected():
    with pytest.raises(CodecError, match="bool"):
        unframe(raw({"a": ["|b1", [2]]}, b"\x01\x07"))


def test_decoder_depth_and_element_limits():
    deep = [0]
    for _ in range(70):
        deep = [deep]
    with pytest.raises(CodecError, match="nested"):
        unframe(raw(deep))
    with pytest.raises(CodecError, match="values in one message"):
        unframe(raw(list(range(100))), limits=CodecLimits(max_elements=50))


def test_custom_handle_factory_sees_id_and_type():
    seen = []
    back = unframe(frame([HandleRef(7, "T")]), handle=lambda i, t: seen.append((i, t)) or "H")
    assert back == ["H"] and seen == [(7, "T")]


# -- frames on a socket ------------------------------------------------------------------


@pytest.fixture
def pair():
    a, b = socket.socketpair()
    yield a, b
    a.close()
    b.close()


def test_send_and_receive_a_large_array(pair):
    import threading

    a, b = pair
    array = np.random.default_rng(1).normal(size=(512, 1024))  # 4 MiB: more than a socket buffer
    sender = threading.Thread(target=codec.send, args=(a, {"x": array}))
    sender.start()
    back = codec.receive(b, time.monotonic() + 10)
    sender.join()
    assert same(back, {"x": array})


def test_oversized_length_prefix_is_refused_before_reading(pair):
    a, b = pair
    a.sendall(struct.pack("<II", 16, 2**31))
    with pytest.raises(CodecError, match="too large"):
        codec.receive(b, time.monotonic() + 1)


def test_receive_times_out_on_a_partial_frame(pair):
    a, b = pair
    a.sendall(frame([1, 2, 3])[:10])
    started = time.monotonic()
    with pytest.raises(codec.Timeout):
        codec.receive(b, time.monotonic() + 0.2)
    assert time.monotonic() - started < 1


def test_receive_reports_a_closed_peer(pair):
    a, b = pair
    a.close()
    with pytest.raises(codec.Closed):
        codec.receive(b, time.monotonic() + 1)
