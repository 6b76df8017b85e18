"""over_members: vmapped, mapped in sequence or called once, the same function of each member."""

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.core import population


def member_fn(params, traj):
    """One member: params {"w": [3]}, traj [T, 3] -> ({"out": [T]}, scalar)."""
    out = jnp.tanh(traj @ params["w"])
    return {"out": out}, out.sum()


def test_members_in_sequence_compute_what_vmap_computes_with_population_on_any_axis(monkeypatch):
    params = {"w": jax.random.normal(jax.random.PRNGKey(0), (4, 3))}  # [P, 3]
    traj = jax.random.normal(jax.random.PRNGKey(1), (5, 4, 3))  # time-major: [T, P, 3]
    vmapped = population.over_members(member_fn, 4, in_axes=(0, 1))(params, traj)
    monkeypatch.setattr(population, "members_in_sequence", lambda: True)
    in_sequence = population.over_members(member_fn, 4, in_axes=(0, 1))(params, traj)
    assert in_sequence[0]["out"].shape == (4, 5) and in_sequence[1].shape == (4,)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6), in_sequence, vmapped)
    alone = population.over_members(member_fn, 1, in_axes=(0, 1))({"w": params["w"][2:3]}, traj[:, 2:3])
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a[0], b[2], rtol=1e-6), alone, vmapped)
