"""JAX to ONNX for jaxrl's policies: a function traced with a symbolic batch size, its jaxpr
written primitive by primitive as an ONNX graph whose batch axis stays dynamic.

The table covers what jaxrl's networks and greedy heads trace to (dense and convolution layers,
LayerNorm, relu/tanh, slicing, argmax, clipping, normalisation); anything else is refused by the
primitive's name and the Flax layer it came from. Parameters are constants: what depends on
them alone is computed here (a kernel's transpose, a bias's reshape), and equal nodes are made
once, so an output traced twice (the action and the logits it is the argmax of) costs nothing.

`onnx` is an optional extra: this module is imported only by `jaxrl export` and its tests.
"""

import hashlib
import itertools
from collections.abc import Callable

import jax
import numpy as np
import onnx
from jax import export as jax_export
from jax.extend import core as jax_core
from onnx import helper, numpy_helper

from jaxrl.errors import ConfigError

OPSET = 18  # ReduceMax takes its axes as an input from 18 on; onnxruntime runs it since 1.14
BATCH = "batch"  # the symbolic batch axis, as the ONNX file names it
FOLD_LIMIT = 4  # a constant computed here may be at most this many times its inputs' bytes (plus 1 KiB)


class Graph:
    """The ONNX nodes and initializers made so far; equal nodes and equal constants are made once."""

    def __init__(self, batch_of: str):
        self.nodes, self.initializers = [], []
        self.made: dict[tuple, str] = {}  # (op, inputs, attributes) or a constant's digest -> its name
        self.counter = itertools.count()
        self.batch_of = batch_of  # the graph input whose first axis is the batch
        self.constants: dict[str, np.ndarray] = {}  # initializer name -> its value

    def fresh(self, hint: str) -> str:
        return f"{hint}_{next(self.counter)}"

    def const(self, value) -> str:
        array = np.asarray(value)
        key = ("const", array.dtype.str, array.shape, hashlib.sha1(np.ascontiguousarray(array).tobytes()).hexdigest())
        if key not in self.made:
            name = self.made[key] = self.fresh("c")
            self.initializers.append(numpy_helper.from_array(array, name))
            self.constants[name] = array
        return self.made[key]

    def node(self, op: str, inputs: list[str], **attributes) -> str:
        frozen = tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in attributes.items()))
        key = (op, tuple(inputs), frozen)
        if key not in self.made:
            name = self.made[key] = self.fresh(op.lower())
            self.nodes.append(helper.make_node(op, inputs, [name], **attributes))
        return self.made[key]

    def shape(self, dims) -> str:
        """A shape as an int64 tensor: a constant, or with the runtime batch size where a dim is symbolic."""
        if all(isinstance(d, int) for d in dims):
            return self.const(np.asarray(dims, np.int64))
        if any(not isinstance(d, int) and str(d) != BATCH for d in dims):
            raise ConfigError(f"cannot export the shape {tuple(map(str, dims))} to ONNX: only the batch axis may vary")
        batch = self.node("Shape", [self.batch_of], start=0, end=1)
        parts = [batch if not isinstance(d, int) else self.const(np.asarray([d], np.int64)) for d in dims]
        return self.node("Concat", parts, axis=0)


def onnx_type(dtype) -> int:
    return helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


def refuse(eqn, what: str):
    where = str(eqn.source_info.name_stack) or "the policy"
    raise ConfigError(f"cannot export {what} (in {where}) to ONNX: jaxrl's exporter has no rule for it")


def aval(var):
    return var.aval


# Each rule: (graph, eqn, input names) -> output name. Inputs are graph names (constants made initializers).


def elementwise(op: str):
    return lambda g, eqn, x: g.node(op, x)


def unary_pair(first: str, second: str):
    return lambda g, eqn, x: g.node(second, [g.node(first, x)])


def integer_pow(g, eqn, x):
    if eqn.params["y"] == 2:
        return g.node("Mul", [x[0], x[0]])
    return g.node("Pow", [x[0], g.const(np.asarray(eqn.params["y"], aval(eqn.invars[0]).dtype))])


def reduce(op: str):
    def rule(g, eqn, x):
        return g.node(op, [x[0], g.const(np.asarray(eqn.params["axes"], np.int64))], keepdims=0)

    return rule


def argmax(g, eqn, x):
    (axis,) = eqn.params["axes"]
    index = g.node("ArgMax", x, axis=axis, keepdims=0, select_last_index=0)  # the first of equals, as jnp
    return g.node("Cast", [index], to=onnx_type(eqn.params["index_dtype"]))


def broadcast_in_dim(g, eqn, x):
    shape, kept = eqn.params["shape"], eqn.params["broadcast_dimensions"]
    new_axes = [axis for axis in range(len(shape)) if axis not in kept]
    y = g.node("Unsqueeze", [x[0], g.const(np.asarray(new_axes, np.int64))]) if new_axes else x[0]
    expanded = list(aval(eqn.invars[0]).shape)
    for axis in new_axes:
        expanded.insert(axis, 1)
    return y if tuple(expanded) == tuple(shape) else g.node("Expand", [y, g.shape(shape)])


def dot_general(g, eqn, x):
    (lhs_contract, rhs_contract), batch = eqn.params["dimension_numbers"]
    lhs, rhs = (aval(v).ndim for v in eqn.invars)
    if batch != ((), ()) or rhs != 2 or tuple(lhs_contract) != (lhs - 1,):
        refuse(eqn, f"dot_general with dimension numbers {eqn.params['dimension_numbers']}")
    kernel = x[1] if tuple(rhs_contract) == (0,) else g.node("Transpose", [x[1]], perm=[1, 0])
    return g.node("MatMul", [x[0], kernel])


def conv(g, eqn, x):
    """lax's convolution in any layout: ONNX's Conv is NCHW with OIHW kernels, so the input and
    kernel are transposed into those and the result back (onnxruntime cancels adjacent pairs)."""
    p = eqn.params
    lhs_spec, rhs_spec, out_spec = p["dimension_numbers"]
    if any(d != 1 for d in p["lhs_dilation"]) or p["batch_group_count"] != 1:
        refuse(eqn, "a transposed or batch-grouped convolution")
    pads = [low for low, _ in p["padding"]] + [high for _, high in p["padding"]]
    y = g.node(
        "Conv",
        [g.node("Transpose", [x[0]], perm=list(lhs_spec)), g.node("Transpose", [x[1]], perm=list(rhs_spec))],
        strides=list(p["window_strides"]),
        pads=pads,
        dilations=list(p["rhs_dilation"]),
        group=p["feature_group_count"],
    )
    return g.node("Transpose", [y], perm=[list(out_spec).index(d) for d in range(len(out_spec))])


def gather(g, eqn, x):
    """A gather with one constant start vector is a slice (what indexing with a symbolic batch
    size traces to: `value[..., 0]`, MinAtar's patches); any other gather is refused."""
    start = g.constants.get(x[1])
    numbers, sizes = eqn.params["dimension_numbers"], eqn.params["slice_sizes"]
    rank = aval(eqn.invars[0]).ndim
    offset = [d for d in range(rank) if d not in numbers.collapsed_slice_dims]
    if (
        start is None
        or start.ndim != 1
        or numbers.operand_batching_dims
        or tuple(numbers.offset_dims) != tuple(range(len(offset)))
    ):
        refuse(eqn, "a gather other than a constant slice")
    axes = list(numbers.start_index_map)
    starts = [int(s) for s in start]
    ends = [s + int(sizes[axis]) for s, axis in zip(starts, axes, strict=True)]
    y = g.node("Slice", [x[0], g.const(np.asarray(starts, np.int64)), g.const(np.asarray(ends, np.int64)),
                         g.const(np.asarray(axes, np.int64))])  # fmt: skip
    collapsed = list(numbers.collapsed_slice_dims)
    return g.node("Squeeze", [y, g.const(np.asarray(collapsed, np.int64))]) if collapsed else y


def slice_rule(g, eqn, x):
    p = eqn.params
    rank = len(p["start_indices"])
    steps = p["strides"] or (1,) * rank
    return g.node("Slice", [x[0], *(g.const(np.asarray(v, np.int64)) for v in
                                    (p["start_indices"], p["limit_indices"], range(rank), steps))])  # fmt: skip


def select_n(g, eqn, x):
    if len(x) != 3:
        refuse(eqn, "select_n of more than two cases")
    predicate = x[0] if aval(eqn.invars[0]).dtype == np.bool_ else g.node("Cast", [x[0]], to=onnx_type(np.bool_))
    return g.node("Where", [predicate, x[2], x[1]])  # select_n picks case 1 where the predicate is true


RULES: dict[str, Callable] = {
    **{
        name: elementwise(op)
        for name, op in [
            ("add", "Add"),
            ("sub", "Sub"),
            ("mul", "Mul"),
            ("div", "Div"),
            ("max", "Max"),
            ("min", "Min"),
            ("neg", "Neg"),
            ("exp", "Exp"),
            ("log", "Log"),
            ("tanh", "Tanh"),
            ("logistic", "Sigmoid"),
            ("sqrt", "Sqrt"),
            ("abs", "Abs"),
            ("gt", "Greater"),
            ("ge", "GreaterOrEqual"),
            ("lt", "Less"),
            ("le", "LessOrEqual"),
            ("eq", "Equal"),
            ("and", "And"),
            ("or", "Or"),
            ("not", "Not"),
        ]
    },  # fmt: skip
    "rsqrt": unary_pair("Sqrt", "Reciprocal"),
    "log1p": lambda g, eqn, x: g.node(
        "Log", [g.node("Add", [x[0], g.const(np.asarray(1, aval(eqn.invars[0]).dtype))])]
    ),
    "ne": unary_pair("Equal", "Not"),
    "square": lambda g, eqn, x: g.node("Mul", [x[0], x[0]]),
    "integer_pow": integer_pow,
    "copy": lambda g, eqn, x: x[0],
    "copy_p": lambda g, eqn, x: x[0],
    "convert_element_type": lambda g, eqn, x: g.node("Cast", x, to=onnx_type(eqn.params["new_dtype"])),
    "reduce_sum": reduce("ReduceSum"),
    "reduce_max": reduce("ReduceMax"),
    "reduce_min": reduce("ReduceMin"),
    "argmax": argmax,
    "broadcast_in_dim": broadcast_in_dim,
    "reshape": lambda g, eqn, x: g.node("Reshape", [x[0], g.shape(eqn.params["new_sizes"])]),
    "squeeze": lambda g, eqn, x: g.node("Squeeze", [x[0], g.const(np.asarray(eqn.params["dimensions"], np.int64))]),
    "transpose": lambda g, eqn, x: g.node("Transpose", x, perm=list(eqn.params["permutation"])),
    "concatenate": lambda g, eqn, x: g.node("Concat", x, axis=eqn.params["dimension"]),
    "slice": slice_rule,
    "dot_general": dot_general,
    "conv_general_dilated": conv,
    "gather": gather,
    "clamp": lambda g, eqn, x: g.node("Min", [g.node("Max", [x[1], x[0]]), x[2]]),
    "select_n": select_n,
}
INLINED = {"jit": "jaxpr", "pjit": "jaxpr", "closed_call": "call_jaxpr", "custom_jvp_call": "call_jaxpr",
           "custom_vjp_call": "call_jaxpr"}  # fmt: skip


def concrete(var) -> bool:
    return all(isinstance(d, int) for d in aval(var).shape)


def fold(eqn, values: list) -> list:
    """The outputs of `eqn` computed here from constant inputs (as JAX's eval_jaxpr does)."""
    out = eqn.primitive.bind(*values, **eqn.primitive.get_bind_params(eqn.params))
    return [np.asarray(v) for v in (out if eqn.primitive.multiple_results else [out])]


def foldable(eqn, values: list) -> bool:
    if not all(isinstance(v, np.ndarray) for v in values) or not all(concrete(v) for v in eqn.outvars):
        return False
    size = sum(v.nbytes for v in values)
    return all(np.prod(aval(v).shape) * aval(v).dtype.itemsize <= FOLD_LIMIT * size + 1024 for v in eqn.outvars)


def write(g: Graph, closed, inputs: list) -> list:
    """The outputs of `closed` (a ClosedJaxpr) given its inputs: graph names (str) or constants (ndarray)."""
    jaxpr = closed.jaxpr
    env = dict(zip(jaxpr.constvars, [np.asarray(c) for c in closed.consts], strict=True))
    env.update(zip(jaxpr.invars, inputs, strict=True))

    def read(var):
        return np.asarray(var.val, var.aval.dtype) if isinstance(var, jax_core.Literal) else env[var]

    for eqn in jaxpr.eqns:
        values = [read(v) for v in eqn.invars]
        name = eqn.primitive.name
        if foldable(eqn, values):
            outs = fold(eqn, values)
        elif name in INLINED:
            outs = write(g, eqn.params[INLINED[name]], values)
        elif name in RULES:
            names = [g.const(v) if isinstance(v, np.ndarray) else v for v in values]
            outs = [RULES[name](g, eqn, names)]
        else:
            refuse(eqn, f"`{name}`")
        env.update(zip(eqn.outvars, outs, strict=True))
    return [read(v) for v in jaxpr.outvars]


def to_onnx(fn, obs_shape: tuple[int, ...], obs_dtype: str, metadata: dict[str, str]) -> onnx.ModelProto:
    """The ONNX model of `fn`: observations [batch, *obs_shape] named "obs" in, its dict of
    arrays [batch, ...] out under their keys ("action" first), float32 wherever `fn` computes
    in float32; `metadata` goes into the file's metadata_props. Refuses what it cannot write."""
    (batch,) = jax_export.symbolic_shape(BATCH)
    closed, shapes = jax.make_jaxpr(fn, return_shape=True)(jax.ShapeDtypeStruct((batch, *obs_shape), obs_dtype))
    g = Graph("obs")
    outs = write(g, closed, ["obs"])
    by_name = dict(zip(sorted(shapes), outs, strict=True))  # a dict flattens in sorted key order
    names = sorted(shapes, key=lambda key: (key != "action", key))
    for key in names:
        value = by_name[key]
        g.nodes.append(
            helper.make_node("Identity", [g.const(value) if isinstance(value, np.ndarray) else value], [key])
        )

    def info(name, dtype, shape):
        return helper.make_tensor_value_info(
            name, onnx_type(dtype), [d if isinstance(d, int) else str(d) for d in shape]
        )

    used = {name for node in g.nodes for name in node.input}  # a rule may leave a constant input unread
    graph = helper.make_graph(
        g.nodes,
        "policy",
        [info("obs", obs_dtype, (BATCH, *obs_shape))],
        [info(key, shapes[key].dtype, shapes[key].shape) for key in names],
        [tensor for tensor in g.initializers if tensor.name in used],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="jaxrl")
    model.ir_version = 9  # ONNX 1.15's: readable by onnxruntime 1.16 and later
    helper.set_model_props(model, metadata)
    onnx.checker.check_model(model)
    return model
