"""DQN on Gymnasium's CartPole-v1 with fastbp, and the same loop in PyTorch beside it.

Deep Q-learning (Mnih et al. 2015) with a replay buffer and a target network.  The Q-network is
4-64-64-2 (ReLU, float32) with the squared loss.  Every environment step:

1. act ε-greedily: one-row forward pass ``net.forward(state.reshape(1, -1))``;
2. store the transition (s, a, r, γ·(1 − terminated), s') in a preallocated replay buffer;
3. after ``learning_starts`` steps, sample 32 transitions and take one Adam step on the TD
   error.  fastbp trains on all outputs with the squared loss: the target Y is the current
   prediction Q(s, ·) with the taken action's entry replaced by r + γ max_a' Q_target(s', a'),
   so the other action's error, and its gradient, are zero.  ``net.partial_fit(S, Y,
   optimizer="adam", lr=..., batch_size=32)`` is then one Adam step on the mean over the batch
   of ½ (Q(s, a) − y)², exactly what the PyTorch agent minimises with ``gather``;
4. every ``target_every`` steps copy the online parameters into the target network.

Both agents share the environment, the replay buffer, the sampling and the ε schedule (the same
code, the same seeds) and start from the same weights (the torch agent is ``net.to_torch()`` of
the fastbp agent's initial network).  The PyTorch loop is written in its fastest eager form: one
thread, ``torch.no_grad()`` for acting and targets, tensors that are zero-copy views of the
preallocated NumPy batch buffers, ``zero_grad(set_to_none=True)`` and Adam's fused CPU kernel.

The script prints environment steps per second for each agent (the whole loop: environment,
acting, replay, learning), the ratio fastbp/torch and the mean return of the last episodes, so
one can see both learn.  ``--profile`` splits one run's time into environment, acting and
learning with cProfile (which inflates Python-heavy calls; read it as a split, not a speed).

    python scripts/examples/dqn_cartpole.py                       # both agents, 3 seeds
    python scripts/examples/dqn_cartpole.py --agent fastbp --steps 50000 --seed 1
    python scripts/examples/dqn_cartpole.py --quick               # a few seconds
    python scripts/examples/dqn_cartpole.py --profile --agent both --steps 10000

Set ``OPENBLAS_NUM_THREADS=1`` (the script does, unless it is set): on a small machine a
multi-threaded OpenBLAS makes the 32-row products several times slower for both agents.
"""

from __future__ import annotations

import os

if __name__ == "__main__":  # before NumPy loads OpenBLAS; an importer keeps its own setting
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import cProfile  # noqa: E402
import pstats  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, replace  # noqa: E402

import numpy as np  # noqa: E402

import fastbp as fb  # noqa: E402


@dataclass(frozen=True)
class Settings:
    """The hyperparameters, shared by both agents."""

    steps: int = 30_000
    buffer: int = 10_000
    batch: int = 32
    gamma: float = 0.99
    lr: float = 2.5e-4
    learning_starts: int = 1_000
    train_every: int = 1
    target_every: int = 500
    eps_start: float = 1.0
    eps_end: float = 0.05
    eps_steps: int = 10_000
    last: int = 20  # the returns reported are the mean of the last `last` episodes

    def epsilon(self, t: int) -> float:
        """ε at step t: linear from ``eps_start`` to ``eps_end`` over ``eps_steps`` steps."""
        frac = min(1.0, t / self.eps_steps)
        return self.eps_start + frac * (self.eps_end - self.eps_start)


QUICK = Settings(steps=6_000, lr=1e-3, learning_starts=500, target_every=250, eps_steps=3_000)


def q_spec() -> fb.NetworkSpec:
    """The Q-network: 4 state variables, two ReLU layers of 64, one output per action."""
    return fb.NetworkSpec([4, 64, 64, 2], ["relu", "relu"], "squared", dtype="float32")


class Replay:
    """A ring buffer of transitions in preallocated arrays, with batch buffers for sampling.

    ``sample`` writes the sampled rows into the same batch arrays on every call (``S``, ``A``,
    ``R``, ``discount``, ``S2``), so neither agent allocates for its batch.  ``discount`` is
    γ (1 − terminated): 0 after a terminal state, γ otherwise (also at a time-limit
    truncation, which is not a terminal state).
    """

    def __init__(self, capacity: int, batch: int, n_state: int = 4) -> None:
        self.capacity, self.size, self.pos = capacity, 0, 0
        self.states = np.zeros((capacity, n_state), dtype=np.float32)
        self.next_states = np.zeros((capacity, n_state), dtype=np.float32)
        self.actions = np.zeros(capacity, dtype=np.int64)
        self.rewards = np.zeros(capacity, dtype=np.float32)
        self.discounts = np.zeros(capacity, dtype=np.float32)
        self.S = np.zeros((batch, n_state), dtype=np.float32)
        self.S2 = np.zeros((batch, n_state), dtype=np.float32)
        self.A = np.zeros(batch, dtype=np.int64)
        self.R = np.zeros(batch, dtype=np.float32)
        self.discount = np.zeros(batch, dtype=np.float32)
        self.batch = batch

    def add(self, s: np.ndarray, a: int, r: float, discount: float, s2: np.ndarray) -> None:
        """Store one transition, overwriting the oldest once the buffer is full."""
        i = self.pos
        self.states[i] = s
        self.actions[i] = a
        self.rewards[i] = r
        self.discounts[i] = discount
        self.next_states[i] = s2
        self.pos = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, rng: np.random.Generator) -> None:
        """Draw ``batch`` transitions uniformly (with replacement) into the batch arrays."""
        idx = rng.integers(0, self.size, size=self.batch)
        self.states.take(idx, axis=0, out=self.S)
        self.next_states.take(idx, axis=0, out=self.S2)
        self.actions.take(idx, out=self.A)
        self.rewards.take(idx, out=self.R)
        self.discounts.take(idx, out=self.discount)


class FastbpAgent:
    """The Q-network and its target as two :class:`fastbp.Network`."""

    name = "fastbp"

    def __init__(self, net: fb.Network, replay: Replay, settings: Settings) -> None:
        self.net, self.target = net, net.copy()
        self.replay, self.lr, self.batch = replay, settings.lr, settings.batch
        self.rows = np.arange(settings.batch)
        self.y = np.zeros(settings.batch, dtype=np.float32)

    def act(self, state: np.ndarray) -> int:
        """The greedy action for one state (float32, shape (4,))."""
        q = self.net.forward(state.reshape(1, -1))
        return int(q[0, 1] > q[0, 0])

    def learn(self) -> None:
        """One Adam step on the mean ½ TD error² of the replay batch."""
        rb, y = self.replay, self.y
        np.max(self.target.forward(rb.S2), axis=1, out=y)
        np.multiply(y, rb.discount, out=y)
        np.add(y, rb.R, out=y)
        Y = self.net.forward(rb.S)  # Q(s, ·): zero error on the action not taken ...
        Y[self.rows, rb.A] = y  # ... and the TD target on the one taken
        self.net.partial_fit(rb.S, Y, optimizer="adam", lr=self.lr, batch_size=self.batch)

    def sync(self) -> None:
        """Copy the online parameters into the target network."""
        self.target.params = self.net.params


class TorchAgent:
    """The same agent in eager PyTorch (one thread, fused Adam, views of the replay batch)."""

    name = "torch"

    def __init__(self, net: fb.Network, replay: Replay, settings: Settings) -> None:
        import torch

        torch.set_num_threads(1)
        self.torch = torch
        self.model = net.to_torch()  # the same initial weights as the fastbp agent
        self.target = net.to_torch()
        for p in self.target.parameters():
            p.requires_grad_(False)
        self.opt = torch.optim.Adam(
            self.model.parameters(), lr=settings.lr, betas=(0.9, 0.999), eps=1e-8, fused=True
        )
        self.gamma = settings.gamma
        self.state = np.zeros((1, 4), dtype=np.float32)
        self.state_t = torch.from_numpy(self.state)  # acting: one preallocated row
        self.S, self.S2 = torch.from_numpy(replay.S), torch.from_numpy(replay.S2)
        self.A = torch.from_numpy(replay.A).unsqueeze(1)  # views: sample() fills them
        self.R, self.discount = torch.from_numpy(replay.R), torch.from_numpy(replay.discount)
        self.y = torch.zeros(settings.batch)

    def act(self, state: np.ndarray) -> int:
        """The greedy action for one state."""
        self.state[0] = state
        with self.torch.no_grad():
            return int(self.model(self.state_t).argmax())

    def learn(self) -> None:
        """One Adam step on ½ mean (Q(s, a) − y)² over the replay batch."""
        torch = self.torch
        with torch.no_grad():
            torch.amax(self.target(self.S2), dim=1, out=self.y)
            self.y.mul_(self.discount).add_(self.R)
        q = self.model(self.S).gather(1, self.A).squeeze(1)
        loss = 0.5 * torch.nn.functional.mse_loss(q, self.y)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()

    def sync(self) -> None:
        """Copy the online parameters into the target network."""
        self.target.load_state_dict(self.model.state_dict())


AGENTS = {"fastbp": FastbpAgent, "torch": TorchAgent}


def warm_up(agent_name: str, settings: Settings) -> None:
    """Act, learn and sync once with a throwaway agent, so that the timed loop compiles or
    loads nothing (fastbp's kernels, PyTorch's first-call set-up)."""
    replay = Replay(settings.batch, settings.batch)
    state = np.zeros(4, dtype=np.float32)
    for _ in range(settings.batch):
        replay.add(state, 0, 1.0, settings.gamma, state)
    agent = AGENTS[agent_name](fb.Network(q_spec(), seed=0), replay, settings)
    agent.act(state)
    replay.sample(np.random.default_rng(0))
    agent.learn()
    agent.sync()


def run(agent_name: str, settings: Settings = Settings(), seed: int = 0) -> dict:
    """Train one agent for ``settings.steps`` environment steps.

    Parameters
    ----------
    agent_name : str
        ``"fastbp"`` or ``"torch"``.
    settings : Settings
        The hyperparameters.
    seed : int
        Seeds the network's initialisation, the environment's first reset and the generator
        of ε-greedy draws and replay samples.

    Returns
    -------
    dict
        ``returns`` (one per finished episode), ``ends`` (the step at which each ended),
        ``seconds`` (wall time of the loop, environment included), ``steps_per_s`` and
        ``final`` (the mean return of the last ``settings.last`` episodes).
    """
    import gymnasium as gym

    env = gym.make("CartPole-v1", disable_env_checker=True)
    rng = np.random.default_rng(seed)
    replay = Replay(settings.buffer, settings.batch)
    warm_up(agent_name, settings)  # compile (or load) every kernel outside the timed loop
    agent = AGENTS[agent_name](fb.Network(q_spec(), seed=seed), replay, settings)
    returns: list[float] = []
    ends: list[int] = []
    state, _ = env.reset(seed=seed)
    episode_return = 0.0
    start = time.perf_counter()
    for t in range(settings.steps):
        if rng.random() < settings.epsilon(t):
            action = int(rng.integers(2))
        else:
            action = agent.act(state)
        next_state, reward, terminated, truncated, _ = env.step(action)
        replay.add(state, action, reward, 0.0 if terminated else settings.gamma, next_state)
        episode_return += reward
        state = next_state
        if terminated or truncated:
            returns.append(episode_return)
            ends.append(t + 1)
            episode_return = 0.0
            state, _ = env.reset()
        if t >= settings.learning_starts and t % settings.train_every == 0:
            replay.sample(rng)
            agent.learn()
        if t % settings.target_every == 0:
            agent.sync()
    seconds = time.perf_counter() - start
    env.close()
    tail = returns[-settings.last :]
    return {
        "agent": agent_name,
        "seed": seed,
        "returns": np.array(returns),
        "ends": np.array(ends),
        "seconds": seconds,
        "steps_per_s": settings.steps / seconds,
        "final": float(np.mean(tail)) if tail else float("nan"),
        "episodes": len(returns),
    }


#: The loop's parts, by the function that does each (cProfile's name) in this file.
PARTS = {"act": "acting", "learn": "learning", "add": "replay", "sample": "replay"}


def profile_split(agent_name: str, settings: Settings, seed: int) -> dict[str, float]:
    """Seconds (cProfile's cumulative times) in the environment, acting, learning and replay.

    A short run first loads (or compiles) the kernels and imports torch, so the profiled run
    holds only the loop's own work.  The environment's time is that of its outermost
    ``step`` and ``reset`` (the wrappers ``gym.make`` adds included), the largest cumulative
    times among Gymnasium's functions of those names.
    """
    run(agent_name, replace(settings, steps=settings.learning_starts + 100), seed)
    profiler = cProfile.Profile()
    profiler.enable()
    run(agent_name, settings, seed)
    profiler.disable()
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    out = {"whole loop": 0.0, "environment": 0.0}
    env_calls = {"step": 0.0, "reset": 0.0}
    for (filename, _, func), (_, _, _, cumtime, _) in stats.items():
        if filename.endswith("dqn_cartpole.py") and func in PARTS:
            out[PARTS[func]] = out.get(PARTS[func], 0.0) + cumtime
        elif filename.endswith("dqn_cartpole.py") and func == "run":
            out["whole loop"] += cumtime
        elif "gymnasium" in filename and func in env_calls:
            env_calls[func] = max(env_calls[func], cumtime)
    out["environment"] = sum(env_calls.values())
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agent", choices=["fastbp", "torch", "both"], default="both")
    parser.add_argument("--steps", type=int, default=None, help="environment steps per run")
    parser.add_argument("--seed", type=int, default=0, help="the first seed")
    parser.add_argument("--seeds", type=int, default=3, help="runs per agent (seeds in a row)")
    parser.add_argument("--quick", action="store_true", help="6,000 steps, one seed")
    parser.add_argument("--profile", action="store_true", help="cProfile split of one run")
    args = parser.parse_args(argv)

    settings = QUICK if args.quick else Settings()
    if args.steps is not None:
        settings = replace(settings, steps=args.steps)
    n_seeds = 1 if args.quick else args.seeds
    agents = ["fastbp", "torch"] if args.agent == "both" else [args.agent]
    print(
        f"DQN on CartPole-v1: {settings.steps} steps, 4-64-64-2 ReLU float32, Adam lr "
        f"{settings.lr}, batch {settings.batch}, replay {settings.buffer}, target every "
        f"{settings.target_every}, ε {settings.eps_start}→{settings.eps_end} over "
        f"{settings.eps_steps} steps"
    )
    if args.profile:
        for name in agents:
            split = profile_split(name, settings, args.seed)
            total = split.pop("whole loop")
            parts = ", ".join(f"{k} {v:.2f} s ({v / total:.0%})" for k, v in split.items())
            print(f"{name} under cProfile: loop {total:.2f} s: {parts}")
        return

    results: dict[str, list[dict]] = {name: [] for name in agents}
    for seed in range(args.seed, args.seed + n_seeds):
        for name in agents:  # alternate the agents, so drifting machine load hits both
            r = run(name, settings, seed)
            results[name].append(r)
            print(
                f"{name:6s} seed {seed}: {r['steps_per_s']:8.0f} steps/s "
                f"({r['seconds']:.2f} s), {r['episodes']} episodes, mean return of the last "
                f"{settings.last}: {r['final']:.1f}"
            )
    medians = {}
    for name, rs in results.items():
        medians[name] = statistics.median(r["steps_per_s"] for r in rs)
        finals = [r["final"] for r in rs]
        print(
            f"{name:6s}: median {medians[name]:.0f} steps/s over {len(rs)} runs "
            f"(range {min(r['steps_per_s'] for r in rs):.0f}–"
            f"{max(r['steps_per_s'] for r in rs):.0f}); final returns "
            f"{', '.join(f'{f:.1f}' for f in finals)} (median {statistics.median(finals):.1f})"
        )
    if len(medians) == 2:
        print(f"ratio fastbp/torch (median steps/s): {medians['fastbp'] / medians['torch']:.2f}")


if __name__ == "__main__":
    main()
