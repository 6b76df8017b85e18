"""The processes of one run, as the training loop sees them. One process: everything is local.
Several (`--distributed`, one per host): the synchronous loop splits the MEMBERS (`Processes`:
each trains an equal, contiguous slice of the population with its own EnvPool); the actor-learner
splits the DATA (`DataParallel`: every process trains every member, its actors stepping its own
share of each member's envs, and the learners average their gradients, so all hold the same
parameters). Either way, once per chunk they agree on whether to stop, whether all members are
done and whether to checkpoint, so that they stop, checkpoint and end at the same chunk.

`jax.distributed.initialize` reads JAX_COORDINATOR_ADDRESS (host:port of process 0),
JAX_NUM_PROCESSES and JAX_PROCESS_ID where they are set, and otherwise detects the cluster
(SLURM, Open MPI, Kubernetes, TPU pods). The run directory must be on a filesystem every process
sees: checkpoints are global arrays over the population axis, written by all processes together.
"""

import hashlib
import os
import signal

import jax
import numpy as np
from jax.experimental.multihost_utils import process_allgather, sync_global_devices
from jax.sharding import Mesh, NamedSharding, PartitionSpec

# What stopped a run, as numbers the processes can compare (the largest wins).
STOPS = {None: 0, "request": 1, "SIGINT": signal.SIGINT.value, "SIGTERM": signal.SIGTERM.value}


class Peers:
    """A run of one process."""

    index, count = 0, 1
    logs_here = True  # whether this process logs its members (TensorBoard, W&B, progress)

    def members(self, size: int) -> slice:
        """This process's members of a population of `size`."""
        share = size // self.count
        return slice(self.index * share, (self.index + 1) * share)

    def agree(self, stop: str | None, finished: bool, due: bool) -> tuple[str | None, bool, bool]:
        """(what stopped any process, whether every member everywhere is done, process 0's due)."""
        return stop, finished, due

    def gather(self, values: np.ndarray) -> np.ndarray:
        """This process's rows [members, ...] -> every process's, in member order."""
        return values

    def to_global(self, tree):
        return tree

    def to_local(self, tree):
        return tree

    def barrier(self, name: str) -> None:
        pass

    def envs(self, num_envs: int) -> slice:
        """This process's envs of each member's `num_envs` (data parallel: a share; else all)."""
        return slice(0, num_envs)

    def devices(self, local: list) -> list:
        """The devices of every process that hold what `local` holds here (the learner's)."""
        return local


class Processes(Peers):
    """A run over jax.distributed's processes."""

    def __init__(self):
        def number(name: str) -> int | None:
            value = os.environ.get(name)
            return int(value) if value is not None and value.isdigit() else None

        # CPU processes need gloo for the per-chunk agreement (GPUs use NCCL)
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        jax.distributed.initialize(num_processes=number("JAX_NUM_PROCESSES"), process_id=number("JAX_PROCESS_ID"))
        self.index, self.count = jax.process_index(), jax.process_count()
        # one device per process carries its slice of a checkpoint's population axis
        devices = [jax.local_devices(process_index=p)[0] for p in range(self.count)]
        self.mesh = Mesh(np.array(devices), ("members",))

    def agree(self, stop, finished, due):
        votes = process_allgather(np.array([STOPS[stop], finished, due], np.int32))  # [processes, 3]
        names = {code: name for name, code in STOPS.items()}
        return names[int(votes[:, 0].max())], bool(votes[:, 1].all()), bool(votes[0, 2])

    def gather(self, values):
        return np.concatenate(list(process_allgather(values)))

    def sharding(self, ndim: int):
        return NamedSharding(self.mesh, PartitionSpec("members") if ndim else PartitionSpec())

    def to_global(self, tree):
        """Local arrays (or ShapeDtypeStructs) [members, ...] -> global ones [P, ...] sharded over
        the processes; scalars (the env-step counter, alike everywhere) replicated."""

        def globalize(x):
            shape = (x.shape[0] * self.count, *x.shape[1:]) if x.ndim else ()
            if isinstance(x, jax.ShapeDtypeStruct):
                return jax.ShapeDtypeStruct(shape, x.dtype, sharding=self.sharding(x.ndim))
            return jax.make_array_from_process_local_data(self.sharding(x.ndim), np.asarray(x), shape)

        return jax.tree.map(globalize, tree)

    def to_local(self, tree):
        return jax.tree.map(lambda x: np.asarray(x.addressable_data(0)), tree)

    def barrier(self, name: str) -> None:
        sync_global_devices(name)


class DataParallel(Peers):
    """`Processes` for the actor-learner: every process has every member; process i steps envs
    [i*E/n, (i+1)*E/n) of each member's E (their seeds the one-process run's: the run is still a
    function of its seed), and the learner's devices of all processes form one mesh, the unrolls
    split over it along the env axis as over one process's learner devices: the update program
    averages the gradients across processes and its parameters come out replicated, the same on
    every process. No unroll crosses processes; checkpoints hold the replicated state, written once."""

    def __init__(self, processes: Processes):
        self.processes, self.index, self.count = processes, processes.index, processes.count
        self.logs_here = self.index == 0  # every process has every member: one writes their logs

    def members(self, size):
        return slice(0, size)

    def agree(self, stop, finished, due):
        return self.processes.agree(stop, finished, due)

    def gather(self, values):
        return values  # every process's rows are every member's, from the same replicated metrics

    def to_global(self, tree):
        """Local arrays (or ShapeDtypeStructs), alike everywhere -> global ones replicated over
        the processes (a checkpoint writes them once)."""
        replicated = NamedSharding(self.processes.mesh, PartitionSpec())
        arrays = [x for x in jax.tree.leaves(tree) if not isinstance(x, jax.ShapeDtypeStruct)]
        if arrays:
            self.check_alike(arrays)

        def globalize(x):
            if isinstance(x, jax.ShapeDtypeStruct):
                return jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=replicated)
            return jax.make_array_from_process_local_data(replicated, np.asarray(x), x.shape)

        return jax.tree.map(globalize, tree)

    def check_alike(self, arrays: list) -> None:
        """Raises if the processes' `arrays` differ: a checkpoint written once must be everyone's."""
        digest = hashlib.sha256(b"".join(np.asarray(x).tobytes() for x in arrays)).digest()[:8]
        digests = process_allgather(np.frombuffer(digest, np.int64))
        if not (digests == digests[0]).all():
            raise RuntimeError(f"the {self.count} processes' learners hold different states: {digests.ravel()}")

    def to_local(self, tree):
        return self.processes.to_local(tree)

    def barrier(self, name):
        self.processes.barrier(name)

    def envs(self, num_envs):
        share = num_envs // self.count
        return slice(self.index * share, (self.index + 1) * share)

    def devices(self, local):
        indices = [jax.local_devices().index(device) for device in local]
        return [jax.local_devices(process_index=p)[i] for p in range(self.count) for i in indices]
