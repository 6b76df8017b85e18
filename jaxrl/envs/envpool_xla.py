"""EnvPool's XLA calls under fixed names, so that the persistent cache can keep `collect`.

EnvPool 1.2.5 registers its custom call under a name holding `id(pool)` and hands the pool's
address to its C++ handler as an attribute: both are written into the program, so the compiled
`collect` differs in every process and JAX's persistent cache never serves it. The pool's address
also travels as the call's first operand (the `handle` buffer, which the handler ignores). Here
each handler is registered once per process under a name fixed by the pool's class, behind a
small forwarder that reads the address from that operand and passes it on as the attribute the
handler expects: the program holds no address, the handler and its results are EnvPool's own.

The forwarder is a ctypes callback: it takes the GIL for a few microseconds at each call (JAX
releases it while a program runs, as for `jax.experimental.io_callback`); EnvPool's handler runs
without it. The structs follow XLA's FFI C API (`xla/ffi/api/c_api.h` in jaxlib).
"""

import contextlib
import ctypes
import importlib.metadata
import os
import traceback
from collections.abc import Iterator
from typing import Any

import jax
import numpy as np

_EXECUTE = 3  # XLA_FFI_ExecutionStage_EXECUTE: other stages (and metadata queries) pass through
_SCALAR = 3  # XLA_FFI_AttrType_SCALAR
_S64 = 5  # XLA_FFI_DataType_S64


class _Span(ctypes.Structure):
    _fields_ = [("ptr", ctypes.c_char_p), ("len", ctypes.c_size_t)]


class _Scalar(ctypes.Structure):
    _fields_ = [("dtype", ctypes.c_int), ("value", ctypes.c_void_p)]


class _Buffer(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t), ("extension_start", ctypes.c_void_p), ("dtype", ctypes.c_int),
        ("data", ctypes.c_void_p), ("rank", ctypes.c_int64), ("dims", ctypes.c_void_p),
    ]  # fmt: skip


class _Args(ctypes.Structure):  # XLA_FFI_Args and XLA_FFI_Rets share this layout
    _fields_ = [
        ("struct_size", ctypes.c_size_t), ("extension_start", ctypes.c_void_p), ("size", ctypes.c_int64),
        ("types", ctypes.c_void_p), ("args", ctypes.POINTER(ctypes.c_void_p)),
    ]  # fmt: skip


class _Attrs(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t), ("extension_start", ctypes.c_void_p), ("size", ctypes.c_int64),
        ("types", ctypes.POINTER(ctypes.c_int)), ("names", ctypes.POINTER(ctypes.POINTER(_Span))),
        ("attrs", ctypes.POINTER(ctypes.c_void_p)),
    ]  # fmt: skip


class _CallFrame(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t), ("extension_start", ctypes.c_void_p), ("api", ctypes.c_void_p),
        ("ctx", ctypes.c_void_p), ("stage", ctypes.c_int), ("args", _Args), ("rets", _Args),
        ("attrs", _Attrs), ("future", ctypes.c_void_p),
    ]  # fmt: skip


# the EnvPool releases whose handler reads the pool from its `handle` attribute (and ignores the
# first operand's contents): another release keeps its own calls until it is checked
HANDLER_KNOWN_IN = ("1.2.5",)
_HANDLER = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p)  # XLA_FFI_Error* (XLA_FFI_CallFrame*)
_registered: dict[str, Any] = {}  # target name -> its forwarder, kept alive for the process


def _handle_attrs(address: int) -> tuple[_Attrs, tuple]:
    """The attribute dictionary {handle: address} as EnvPool's handler reads it, with the objects
    it points into (which must outlive each call)."""
    value = ctypes.c_int64(address)
    scalar = _Scalar(_S64, ctypes.cast(ctypes.byref(value), ctypes.c_void_p))
    name = _Span(b"handle", 6)
    types = (ctypes.c_int * 1)(_SCALAR)
    names = (ctypes.POINTER(_Span) * 1)(ctypes.pointer(name))
    values = (ctypes.c_void_p * 1)(ctypes.cast(ctypes.byref(scalar), ctypes.c_void_p))
    attrs = _Attrs(ctypes.sizeof(_Attrs), None, 1, types, names, values)
    return attrs, (value, scalar, name, types, names, values)


def _forwarder(handler_address: int):
    """An FFI handler that calls EnvPool's handler at `handler_address` with the pool's address,
    read from the first operand, as its `handle` attribute."""
    handler = _HANDLER(handler_address)
    attrs_by_pool: dict[int, tuple] = {}  # one dictionary per pool, built at its first call

    def forward(frame_address: int) -> int | None:
        frame = _CallFrame.from_address(frame_address)
        if frame.stage != _EXECUTE or frame.args.size == 0:
            return handler(frame_address)
        pool = ctypes.c_int64.from_address(_Buffer.from_address(frame.args.args[0]).data).value
        if pool not in attrs_by_pool:
            attrs_by_pool[pool] = _handle_attrs(pool)
        call = _CallFrame.from_buffer_copy(frame)  # the frame as XLA made it, but for its attributes
        call.attrs = attrs_by_pool[pool][0]
        error = handler(ctypes.addressof(call))
        frame.future = call.future
        return error

    def guarded(frame_address: int) -> int | None:
        # ctypes would print an exception and return NULL, which XLA reads as success: the step's
        # outputs would be garbage that training goes on with. Better the process dies saying why.
        try:
            return forward(frame_address)
        except BaseException:
            traceback.print_exc()
            os.abort()

    return _HANDLER(guarded)


def _capsule_address(capsule) -> int:
    get = ctypes.pythonapi.PyCapsule_GetPointer
    get.restype, get.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    return get(capsule, None)


def _fixed_call(pool, method: str, specs: tuple, capsules: tuple):
    """EnvPool's `method` (recv, send) as a jittable function of (handle, *operands)."""
    name = f"jaxrl_envpool_{type(pool).__name__}_{method}"
    if name not in _registered:
        _registered[name] = _forwarder(_capsule_address(capsules[0]))
        jax.ffi.register_ffi_target(name, jax.ffi.pycapsule(_registered[name]), platform="cpu")
    in_specs, out_specs = ([(tuple(shape), jax.dtypes.canonicalize_dtype(dtype)) for dtype, shape in s] for s in specs)
    results = [jax.ShapeDtypeStruct(shape, dtype) for shape, dtype in out_specs]
    return jax.ffi.ffi_call(
        name,
        results if len(results) > 1 else results[0],
        has_side_effect=True,
        input_layouts=[tuple(range(len(shape))) for shape, _ in in_specs],
        output_layouts=[tuple(range(len(shape))) for shape, _ in out_specs] if len(results) > 1 else None,
        input_output_aliases={0: 0},  # the handle passes through, as in EnvPool's own call
    )


def _make_fixed_xla(pool):
    """What `envpool.python.xla_template.make_xla` returns (handle, recv, send), made of _fixed_call."""
    native = dict(pool._xla())
    handle = next(iter(native.values()))[0]
    calls = {method: _fixed_call(pool, method, specs, capsules) for method, (_, specs, capsules) in native.items()}
    return np.frombuffer(handle, dtype=np.uint8), calls["recv"], calls["send"]


@contextlib.contextmanager
def _fixed_names() -> Iterator[None]:
    from envpool.python import lax  # lazy: EnvPool loads on demand (envpool.registry), never with jaxrl

    made = lax.make_xla
    lax.make_xla = _make_fixed_xla
    try:
        yield
    finally:
        lax.make_xla = made


def xla(pool) -> tuple:
    """`pool.xla()`: (handle, recv, send, step), EnvPool's own wrappers around calls whose program
    holds neither the pool's address nor its id. On CPU with a known EnvPool only: on a GPU the
    handle operand lies in device memory, where the forwarder cannot read it, so EnvPool's own
    calls stay."""
    if jax.default_backend() != "cpu" or importlib.metadata.version("envpool") not in HANDLER_KNOWN_IN:
        return pool.xla()
    with _fixed_names():
        return pool.xla()
