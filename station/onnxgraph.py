"""Just enough of an ONNX model's protobuf to read its graph's head and add one output, without the onnx package.

The onnx package takes about a second to import (its numeric types), on every start of the station;
what ``station.evidence`` needs is a few fields of ModelProto, GraphProto, NodeProto,
AttributeProto and TensorProto (onnx/onnx.proto, field numbers below), read from the protobuf
wire format, and one ValueInfoProto appended to the graph's outputs.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

# field numbers in onnx/onnx.proto
_MODEL_GRAPH = 7
_GRAPH_NODE, _GRAPH_INITIALIZER, _GRAPH_OUTPUT = 1, 5, 12
_NODE_INPUT, _NODE_OUTPUT, _NODE_OP, _NODE_ATTRIBUTE = 1, 2, 4, 5
_ATTR_NAME, _ATTR_I, _ATTR_T, _ATTR_INTS = 1, 3, 5, 8
_TENSOR_DIMS, _TENSOR_TYPE, _TENSOR_FLOATS, _TENSOR_INT64S, _TENSOR_NAME, _TENSOR_RAW = 1, 2, 4, 7, 8, 9
_VALUE_NAME = 1
_FLOAT, _INT64 = 1, 7  # TensorProto.DataType


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    out = shift = 0
    while True:
        b = buf[i]
        i += 1
        out |= (b & 0x7F) << shift
        if b < 0x80:
            return out, i
        shift += 7


def fields(buf: bytes) -> list[tuple[int, int | bytes]]:
    """A message's (field number, value): an int for varints and fixed widths, bytes for length-delimited."""
    out: list[tuple[int, int | bytes]] = []
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            v, i = _varint(buf, i)
            out.append((num, v))
        elif wire == 2:
            n, i = _varint(buf, i)
            out.append((num, buf[i : i + n]))
            i += n
        elif wire in (1, 5):
            width = 8 if wire == 1 else 4
            out.append((num, int.from_bytes(buf[i : i + width], "little")))
            i += width
        else:
            raise ValueError(f"protobuf wire type {wire} is not one an ONNX model uses")
    return out


def _key(num: int, wire: int) -> bytes:
    return _encode_varint((num << 3) | wire)


def _encode_varint(v: int) -> bytes:
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def _bytes_field(num: int, data: bytes) -> bytes:
    return _key(num, 2) + _encode_varint(len(data)) + data


def _ints(values: list[int | bytes]) -> list[int]:
    """A repeated int64 field, packed (bytes) or not (ints)."""
    out: list[int] = []
    for v in values:
        if isinstance(v, int):
            out.append(v - (1 << 64) if v >= 1 << 63 else v)
            continue
        i = 0
        while i < len(v):
            x, i = _varint(v, i)
            out.append(x - (1 << 64) if x >= 1 << 63 else x)
    return out


@dataclass
class Node:
    op_type: str
    inputs: list[str]
    outputs: list[str]
    ints: dict[str, list[int]] = field(default_factory=dict)  # int and ints attributes
    tensors: dict[str, npt.NDArray[np.generic]] = field(default_factory=dict)  # tensor attributes (Constant)


@dataclass
class Graph:
    nodes: list[Node]
    initializers: dict[str, npt.NDArray[np.generic]]
    outputs: list[str]


def _tensor(buf: bytes) -> tuple[str, npt.NDArray[np.generic]]:
    f = fields(buf)
    dims = _ints([v for n, v in f if n == _TENSOR_DIMS])
    kind = next((int(v) for n, v in f if n == _TENSOR_TYPE and isinstance(v, int)), 0)
    name = next((v.decode() for n, v in f if n == _TENSOR_NAME and isinstance(v, bytes)), "")
    raw = next((v for n, v in f if n == _TENSOR_RAW and isinstance(v, bytes)), None)
    dtype = {_FLOAT: np.float32, _INT64: np.int64}.get(kind)
    if dtype is None:
        return name, np.zeros(0, np.float32)  # a type the head never uses
    if raw is not None:
        data = np.frombuffer(raw, dtype=dtype).copy()
    elif kind == _FLOAT:
        packed = b"".join(v for n, v in f if n == _TENSOR_FLOATS and isinstance(v, bytes))
        loose = [struct.pack("<I", v) for n, v in f if n == _TENSOR_FLOATS and isinstance(v, int)]
        data = np.frombuffer(packed + b"".join(loose), dtype=np.float32).copy()
    else:
        data = np.array(_ints([v for n, v in f if n == _TENSOR_INT64S]), np.int64)
    return name, data.reshape(dims) if dims and data.size == int(np.prod(dims)) else data


def _node(buf: bytes) -> Node:
    f = fields(buf)
    text = [(n, v.decode()) for n, v in f if isinstance(v, bytes) and n in (_NODE_INPUT, _NODE_OUTPUT, _NODE_OP)]
    op = next((v for n, v in text if n == _NODE_OP), "")
    node = Node(op, [v for n, v in text if n == _NODE_INPUT], [v for n, v in text if n == _NODE_OUTPUT])
    for n, v in f:
        if n != _NODE_ATTRIBUTE or not isinstance(v, bytes):
            continue
        a = fields(v)
        name = next((x.decode() for k, x in a if k == _ATTR_NAME and isinstance(x, bytes)), "")
        ints = [x for k, x in a if k == _ATTR_INTS] or [x for k, x in a if k == _ATTR_I]
        if ints:
            node.ints[name] = _ints(ints)
        t = next((x for k, x in a if k == _ATTR_T and isinstance(x, bytes)), None)
        if t is not None:
            node.tensors[name] = _tensor(t)[1]
    return node


def _graph_bytes(model: bytes) -> bytes:
    graph = next((v for n, v in fields(model) if n == _MODEL_GRAPH and isinstance(v, bytes)), None)
    if graph is None:
        raise ValueError("no graph in the model")
    return graph


def read_graph(model: bytes) -> Graph:
    """The graph's nodes, initializers and output names."""
    nodes: list[Node] = []
    inits: dict[str, npt.NDArray[np.generic]] = {}
    outputs: list[str] = []
    for n, v in fields(_graph_bytes(model)):
        if not isinstance(v, bytes):
            continue
        if n == _GRAPH_NODE:
            nodes.append(_node(v))
        elif n == _GRAPH_INITIALIZER:
            name, data = _tensor(v)
            inits[name] = data
        elif n == _GRAPH_OUTPUT:
            outputs.append(next((x.decode() for k, x in fields(v) if k == _VALUE_NAME and isinstance(x, bytes)), ""))
    return Graph(nodes, inits, outputs)


# where a tensor may sit (onnx.proto): ModelProto.graph 7 and .functions 25 (FunctionProto.node 7); GraphProto.node 1,
# .initializer 5, .sparse_initializer 15; NodeProto.attribute 5; AttributeProto.t 5, .g 6, .tensors 10, .graphs 11,
# .sparse_tensor 22, .sparse_tensors 23; SparseTensorProto.values 1, .indices 2; TensorProto.external_data 13, .data_location 14
_TENSOR_EXTERNAL_DATA, _TENSOR_LOCATION, _EXTERNAL = 13, 14, 1


def _subs(buf: bytes, wanted: tuple[int, ...]) -> list[tuple[int, bytes]]:
    return [(n, v) for n, v in fields(buf) if n in wanted and isinstance(v, bytes)]


def _tensor_outside(buf: bytes) -> bool:
    return any(n == _TENSOR_EXTERNAL_DATA or (n == _TENSOR_LOCATION and v == _EXTERNAL) for n, v in fields(buf))


def _sparse_outside(buf: bytes) -> bool:
    return any(_tensor_outside(v) for _, v in _subs(buf, (1, 2)))


def _node_outside(buf: bytes) -> bool:
    for _, attr in _subs(buf, (5,)):
        for n, v in _subs(attr, (5, 6, 10, 11, 22, 23)):
            if _tensor_outside(v) if n in (5, 10) else _graph_outside(v) if n in (6, 11) else _sparse_outside(v):
                return True
    return False


def _graph_outside(buf: bytes) -> bool:
    parts = _subs(buf, (1, 5, 15))
    return any(_node_outside(v) if n == 1 else _tensor_outside(v) if n == 5 else _sparse_outside(v) for n, v in parts)


def external_data(model: bytes) -> bool:
    """Whether any tensor of the model, in its graph, a subgraph or a function, keeps its numbers in another file (ONNX
    external data): ONNX Runtime, given the model's bytes, looks for that file in the working directory, and the model's
    digest does not cover it. ValueError for bytes that are no protobuf."""
    for n, v in _subs(model, (_MODEL_GRAPH, 25)):
        if _graph_outside(v) if n == _MODEL_GRAPH else any(_node_outside(x) for _, x in _subs(v, (7,))):
            return True
    return False


def add_float_output(model: bytes, name: str) -> bytes:
    """The model with ``name`` (a float tensor of the graph) as one more output; everything else byte for byte."""
    tensor_type = _bytes_field(1, _key(1, 0) + _encode_varint(_FLOAT))  # TypeProto.tensor_type { elem_type: FLOAT }
    value_info = _bytes_field(_VALUE_NAME, name.encode()) + _bytes_field(2, tensor_type)
    out = bytearray()
    i = 0
    while i < len(model):
        start = i
        key, i = _varint(model, i)
        num, wire = key >> 3, key & 7
        if wire == 2:
            n, i = _varint(model, i)
            body = model[i : i + n]
            i += n
            if num == _MODEL_GRAPH:
                out += _bytes_field(_MODEL_GRAPH, body + _bytes_field(_GRAPH_OUTPUT, value_info))
                continue
        elif wire == 0:
            _, i = _varint(model, i)
        else:
            i += 8 if wire == 1 else 4
        out += model[start:i]
    return bytes(out)
