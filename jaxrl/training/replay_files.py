"""A replay in a checkpoint: one .npy file per replay array and group of members, written and
read a block of at most BLOCK_BYTES at a time, never a whole host copy.

orbax's PyTree writer copies an array to the host whole before tensorstore writes it (measured:
+2 GB while saving the 2.1 GB replay of a 300k Pong DQN run), which is what the replay cannot
afford. Here a block is sliced on the device, copied to the host and appended to the file; on
restore each block is read and written in place into the run's own (fresh) replay buffers,
donated, so a restore allocates no second replay either.

Files are named `<array>.<first member>-<end member>.npy` (members of the whole population), so
any member range can be read back whatever the devices and processes that wrote them: a member's
data is one contiguous byte range of its file (arrays are member-major, [P, ...]).
"""

import functools
import itertools
import math
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

BLOCK_BYTES = 16 << 20


def leaf_names(tree) -> list[tuple[str, jax.Array]]:
    """(name, array) of every leaf: `obs`, `action`, ... for a Replay."""
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return [
        (".".join(str(getattr(key, "name", getattr(key, "key", key))) for key in path), leaf) for path, leaf in leaves
    ]


def blocks(shape: tuple[int, ...], itemsize: int):
    """Index tuples of consecutive blocks of an array of `shape`, in C order, each at most
    BLOCK_BYTES (or one row of the innermost axis that fits), together covering the array."""
    axis = next((k for k in range(len(shape)) if math.prod(shape[k + 1 :]) * itemsize <= BLOCK_BYTES), len(shape) - 1)
    step = max(1, BLOCK_BYTES // max(1, math.prod(shape[axis + 1 :]) * itemsize))
    for outer in itertools.product(*(range(n) for n in shape[:axis])):
        for start in range(0, shape[axis] if shape else 1, step):
            yield (*outer, slice(start, min(start + step, shape[axis]))) if shape else ()


def write(path: Path, array: jax.Array) -> None:
    """`array` as a .npy file, one device block at a time."""
    with open(path, "wb") as file:
        np.lib.format.write_array_header_1_0(
            file,
            {
                "descr": np.lib.format.dtype_to_descr(np.dtype(array.dtype)),
                "fortran_order": False,
                "shape": array.shape,
            },
        )
        for index in blocks(array.shape, np.dtype(array.dtype).itemsize):
            file.write(np.ascontiguousarray(np.asarray(array[index])).data)


def save(directory: Path, groups: list[tuple[range, object]]) -> None:
    """Each group: (its members in the population, its replay tree with leaves [members, ...])."""
    directory.mkdir(parents=True, exist_ok=True)
    for members, tree in groups:
        for name, leaf in leaf_names(tree):
            write(directory / f"{name}.{members.start}-{members.stop}.npy", leaf)


@functools.partial(jax.jit, donate_argnums=0)
def place(target: jax.Array, block: jax.Array, start: tuple) -> jax.Array:
    return jax.lax.dynamic_update_slice(target, block, start)


def member_files(directory: Path, name: str) -> list[tuple[range, Path]]:
    files = []
    for path in directory.glob(f"{name}.*.npy"):
        first, _, end = path.name.removeprefix(f"{name}.").removesuffix(".npy").partition("-")
        if first.isdigit() and end.isdigit():
            files.append((range(int(first), int(end)), path))
    return files


def read_into(target: jax.Array, files: list[tuple[range, Path]], members: range) -> jax.Array:
    """`target` [len(members), ...] filled from the files that hold `members`, block by block."""
    member_shape = target.shape[1:]
    itemsize = np.dtype(target.dtype).itemsize
    member_bytes = math.prod(member_shape) * itemsize
    for local, member in enumerate(members):
        held = [(span, path) for span, path in files if member in span]
        if not held:
            raise ValueError(f"no file holds member {member}")
        span, path = held[0]
        with open(path, "rb") as file:
            if np.lib.format.read_magic(file) != (1, 0):  # `write` writes version 1.0 headers
                raise ValueError(f"{path.name} is not a .npy file this version of jaxrl wrote")
            shape, _, dtype = np.lib.format.read_array_header_1_0(file)
            if tuple(shape[1:]) != tuple(member_shape) or dtype != np.dtype(target.dtype):
                raise ValueError(
                    f"{path.name} holds {dtype}{list(shape[1:])} per member, not {target.dtype}{list(member_shape)}"
                )
            file.seek(file.tell() + (member - span.start) * member_bytes)
            for index in blocks(member_shape, itemsize):
                rows = [s.stop - s.start if isinstance(s, slice) else 1 for s in index]
                block_shape = (1, *rows, *member_shape[len(index) :])
                data = np.frombuffer(file.read(math.prod(block_shape) * itemsize), dtype=target.dtype)
                start = (local, *[s.start if isinstance(s, slice) else s for s in index])
                start = (*start, *[0] * (target.ndim - len(start)))
                target = place(target, jnp.asarray(data.reshape(block_shape)), start)
    return target


def restore(directory: Path, into, members: range):
    """`into` (a replay tree with leaves [len(members), ...], e.g. a fresh one, donated) holding
    the saved data of `members`."""
    filled = [read_into(leaf, member_files(directory, name), members) for name, leaf in leaf_names(into)]
    return jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(into), filled)
