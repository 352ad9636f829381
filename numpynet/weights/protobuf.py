"""Protocol Buffers' wire format, read and written by hand (no protobuf package, no schema).

A message is a sequence of fields; each field is a key, then a value:

    key   = varint(field_number << 3 | wire_type)
    varint          (wire type 0)  7 bits per byte, low bits first, top bit = "more bytes"
    64-bit          (wire type 1)  8 bytes little-endian (double, fixed64)
    length-delimited(wire type 2)  varint(length), then that many bytes: strings, bytes,
                                   embedded messages, and "packed" repeated numbers
    32-bit          (wire type 5)  4 bytes little-endian (float, fixed32)

A repeated float field may come packed (one length-delimited field of little-endian float32s)
or unpacked (one 32-bit field per number); a reader must accept both. Negative int32/int64
values are written as 10-byte varints (two's complement). The schema (which number means
what) is the reader's knowledge, here numpynet/weights/caffe.py's, taken from Caffe's
src/caffe/proto/caffe.proto.
"""

import numpy as np

VARINT, I64, LEN, I32 = 0, 1, 2, 5


class WireError(ValueError):
    """Bytes that are not a well-formed protobuf message."""


def read_varint(buf, pos):
    """-> (value, next position): the varint starting at buf[pos] (unsigned)."""
    value = shift = 0
    while True:
        if pos >= len(buf):
            raise WireError("the data ends inside a varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise WireError("a varint longer than 10 bytes")


def fields(buf):
    """Yield (field_number, wire_type, value) for each field of the message in `buf`.

    value: an int (varint), or a memoryview of the bytes (the other wire types; no copy, so a
    150 MB float array is read in place).
    """
    buf = memoryview(buf)
    pos = 0
    while pos < len(buf):
        key, pos = read_varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == VARINT:
            value, pos = read_varint(buf, pos)
        elif wire in (I64, I32):
            size = 8 if wire == I64 else 4
            value, pos = buf[pos:pos + size], pos + size
        elif wire == LEN:
            size, pos = read_varint(buf, pos)
            value, pos = buf[pos:pos + size], pos + size
        else:
            raise WireError(f"field {number} has wire type {wire} (groups are not supported)")
        if pos > len(buf) or number == 0:
            raise WireError("the data ends inside a field" if pos > len(buf) else "field number 0")
        yield number, wire, value


def message(buf):
    """{field_number: [(wire_type, value), ...]} of one message (every occurrence, in order)."""
    out = {}
    for number, wire, value in fields(buf):
        out.setdefault(number, []).append((wire, value))
    return out


def numbers(entries, dtype):
    """A repeated float/double field (packed, unpacked or both) -> 1-d array of `dtype`."""
    dtype = np.dtype(dtype).newbyteorder("<")
    parts = [np.frombuffer(value, dtype=dtype) for _, value in entries]
    return np.concatenate(parts) if parts else np.zeros(0, dtype)


def varints(entries):
    """A repeated integer field (packed or not) -> list of ints (two's complement undone)."""
    out = []
    for wire, value in entries:
        if wire == VARINT:
            out.append(value)
        else:                           # packed: a run of varints
            pos = 0
            while pos < len(value):
                v, pos = read_varint(value, pos)
                out.append(v)
    return [v - (1 << 64) if v >= 1 << 63 else v for v in out]


def string(entries, default=""):
    """The last occurrence of a string field (protobuf's rule for a repeated scalar)."""
    return bytes(entries[-1][1]).decode("utf-8") if entries else default


def scalar(entries, dtype, default):
    """The last occurrence of an int (varint) or float/double (32/64-bit) field."""
    if not entries:
        return default
    wire, value = entries[-1]
    if wire == VARINT:
        return varints(entries[-1:])[0]
    return float(np.frombuffer(value, dtype=np.dtype(dtype).newbyteorder("<"))[0])


# ------------------------------------------------------------------------------- writing

def encode_varint(value):
    """int -> varint bytes (a negative value as its 64-bit two's complement: 10 bytes)."""
    value &= (1 << 64) - 1
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def key(number, wire):
    return encode_varint(number << 3 | wire)


def varint_field(number, value):
    return key(number, VARINT) + encode_varint(int(value))


def bytes_field(number, data):
    """A length-delimited field: a string's UTF-8, raw bytes or an encoded message."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    return key(number, LEN) + encode_varint(len(data)) + bytes(data)


def float_field(number, value):
    return key(number, I32) + np.float32(value).astype("<f4").tobytes()


def packed_floats(number, array, dtype="<f4"):
    """A packed repeated float (or double, dtype '<f8') field holding `array`, flattened."""
    return bytes_field(number, np.ascontiguousarray(array, dtype=dtype).tobytes())


def packed_varints(number, values):
    return bytes_field(number, b"".join(encode_varint(int(v)) for v in values))
