"""
Reinforcement learning: DQN on CartPole
=======================================

Deep Q-learning on Gymnasium's ``CartPole-v1``: a 4-64-64-2 ReLU Q-network (float32, squared
loss) acts ε-greedily with one-row :meth:`fastbp.Network.forward` calls and learns from
minibatches of 32 transitions drawn from a replay buffer, one Adam step per environment step
with :meth:`fastbp.Network.partial_fit`. A target network, a copy whose parameters are
refreshed every 250 steps, gives the TD targets r + γ max Q_target(s', ·).

The trick that lets a squared loss on all outputs train a Q-network: the target Y is the
current prediction Q(s, ·) with only the taken action's entry replaced by its TD target, so the
other action's error, and its gradient, are zero. Needs ``pip install "fastbp[rl]"``
(Gymnasium). The long version, with the same loop in PyTorch beside it and the speed of both,
is ``python scripts/examples/dqn_cartpole.py``.
"""

import gymnasium as gym
import matplotlib.pyplot as plt
import numpy as np

import fastbp as fb

steps, batch, gamma, lr = 6000, 32, 0.99, 1e-3
learning_starts, target_every, eps_steps = 500, 250, 3000

rng = np.random.default_rng(0)
env = gym.make("CartPole-v1")
spec = fb.NetworkSpec([4, 64, 64, 2], ["relu", "relu"], "squared", dtype="float32")
net = fb.Network(spec, seed=0)
target = net.copy()

# The replay buffer: preallocated arrays, written in a ring.
S = np.zeros((steps, 4), dtype=np.float32)
S2 = np.zeros((steps, 4), dtype=np.float32)
A = np.zeros(steps, dtype=np.int64)
R = np.zeros(steps, dtype=np.float32)
discount = np.zeros(steps, dtype=np.float32)  # γ, or 0 after a terminal state
rows = np.arange(batch)

returns, ends, episode_return = [], [], 0.0
state, _ = env.reset(seed=0)
for t in range(steps):
    eps = max(0.05, 1.0 - 0.95 * t / eps_steps)
    if rng.random() < eps:
        action = int(rng.integers(2))
    else:
        q = net.forward(state.reshape(1, -1))  # one row: a single compiled call
        action = int(q[0, 1] > q[0, 0])
    next_state, reward, terminated, truncated, _ = env.step(action)
    S[t], A[t], R[t], S2[t] = state, action, reward, next_state
    discount[t] = 0.0 if terminated else gamma
    episode_return += reward
    state = next_state
    if terminated or truncated:
        returns.append(episode_return)
        ends.append(t + 1)
        episode_return = 0.0
        state, _ = env.reset()
    if t >= learning_starts:
        i = rng.integers(0, t + 1, size=batch)
        y = R[i] + discount[i] * target.forward(S2[i]).max(axis=1)  # TD targets
        Y = net.forward(S[i])  # Q(s, ·): zero error on the action not taken ...
        Y[rows, A[i]] = y  # ... and the TD target on the one taken
        net.partial_fit(S[i], Y, optimizer="adam", lr=lr, batch_size=batch)
    if t % target_every == 0:
        target.params = net.params

# %%
# Learning curve
# --------------
#
# Each point is one episode's return (the number of steps the pole stayed up, at most 500),
# at the environment step where the episode ended. Early episodes are short and random; once
# ε has decayed the greedy policy keeps the pole up for hundreds of steps.

print(f"{len(returns)} episodes; mean return of the last 10: {np.mean(returns[-10:]):.1f}")
fig, ax = plt.subplots(figsize=(6, 3.6))
ax.plot(ends, returns, ".", alpha=0.5, label="episode return")
k = 10
ax.plot(ends[k - 1 :], np.convolve(returns, np.ones(k) / k, mode="valid"), label="mean of 10")
ax.axvline(learning_starts, color="grey", lw=0.8, ls="--")
ax.set_xlabel("environment step")
ax.set_ylabel("return")
ax.set_title("DQN on CartPole-v1 with fastbp")
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()
