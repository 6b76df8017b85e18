"""V-trace (Espeholt et al., 2018, "IMPALA", ICML, section 4): off-policy value targets and
policy-gradient advantages for a rollout [T, E] collected by a behaviour policy mu that lags the
learner's policy pi. Same boundary conventions as `jaxrl.core.returns`.

With the truncated importance weights

    rho_t = min(rho_bar, pi(a_t|s_t) / mu(a_t|s_t)),    c_t = lambda * min(c_bar, pi(a_t|s_t) / mu(a_t|s_t))

the V-trace target of s_t is v_t = V(s_t) + A_t, where

    delta_t = rho_t (r_t + gamma (1 - terminated_t) V(s_{t+1}) - V(s_t))
    A_t     = delta_t + gamma (1 - done_t) c_t A_{t+1},        A_T = 0

(the paper's v_s - V(x_s), written as a backward recursion; nothing flows across an episode
boundary, and a truncated step bootstraps from V of its last observation). The policy gradient
weighs grad log pi(a_t|s_t) by

    rho_t (r_t + gamma (1 - terminated_t) v'_{t+1} - V(s_t)),    v'_{t+1} = V(s_{t+1}) + (1 - done_t) A_{t+1}

i.e. the V-trace target of the next state where it belongs to the same episode, else V of it.
On-policy (pi = mu, so rho_t = 1 and c_t = lambda) the targets are GAE's returns for that lambda
(`jaxrl.core.returns.gae`), and with lambda = 1 the advantages are GAE's (n-step returns).

Written here rather than taken from rlax: it is twenty lines on `lax.scan`, it must follow jaxrl's
terminated/truncated/done conventions (rlax takes one discount per step and no truncation), and
rlax would be a new dependency for one function.
"""

import jax
import jax.numpy as jnp


def vtrace(reward, value, next_value, terminated, done, log_rho, gamma, vtrace_lambda, rho_bar=1.0, c_bar=1.0):
    """V-trace targets and policy-gradient advantages; every input [T, E], `log_rho` =
    log pi(a_t|s_t) - log mu(a_t|s_t). Returns (targets v_t, advantages), no gradient through them."""
    ratio = jnp.exp(jax.lax.stop_gradient(log_rho))
    rho = jnp.minimum(rho_bar, ratio)
    c = vtrace_lambda * jnp.minimum(c_bar, ratio)
    not_terminated = 1.0 - terminated.astype(jnp.float32)
    not_done = 1.0 - done.astype(jnp.float32)
    delta = rho * (reward + gamma * not_terminated * next_value - value)

    def backward(next_correction, step):
        delta_t, c_t, not_done_t = step
        correction = delta_t + gamma * not_done_t * c_t * next_correction
        return correction, correction

    _, correction = jax.lax.scan(backward, jnp.zeros_like(delta[0]), (delta, c, not_done), reverse=True)
    # A_{t+1} for every t, 0 after the rollout's last step
    next_correction = jnp.concatenate([correction[1:], jnp.zeros_like(correction[:1])], axis=0)
    next_target = next_value + not_done * next_correction
    advantages = rho * (reward + gamma * not_terminated * next_target - value)
    return jax.lax.stop_gradient(value + correction), jax.lax.stop_gradient(advantages)
