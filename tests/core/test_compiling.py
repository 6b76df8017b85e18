import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.core.compiling import jit_once
from jaxrl.core.networks import ActorCritic


def members_init(keys):
    """Five members' flax init (orthogonal kernels: QR and threefry), as a run's init makes them."""
    network = ActorCritic(num_actions=2, obs_shape=(4,), shared=False)
    return jax.vmap(lambda key: network.init(key, jnp.zeros((1, 4))))(keys)


def test_jit_once_makes_the_same_parameters_as_jit_and_runs_inside_a_trace():
    keys = jax.random.split(jax.random.PRNGKey(3), 5)
    ours, theirs = jit_once(members_init)(keys), jax.jit(members_init)(keys)
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(theirs), strict=True):
        assert np.asarray(a).tobytes() == np.asarray(b).tobytes()
    # the fleet asks for a state's shapes through jax.eval_shape: a nested jit takes no options
    shapes = jax.eval_shape(lambda k: jit_once(members_init)(k), keys)
    assert jax.tree.map(lambda x: x.shape, shapes) == jax.tree.map(lambda x: x.shape, theirs)
