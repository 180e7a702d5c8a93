"""fastbp beside PyTorch eager on the same W1 per-example SGD epoch, in one class with the same
params, and the speed-up as a tracked ratio.  Skipped (NotImplementedError in setup) where torch
is not installed: ``pip install -e ".[compare]"``.  The full peer comparison with JAX, numpy and
scikit-learn is ``scripts/bench_peers.py``."""

from __future__ import annotations

from .common import median_ratio, warm, workload_setup

N_EXAMPLES = 2000


class TorchPeerW1:
    params = (["float32", "float64"],)
    param_names = ["dtype"]
    timeout = 300

    def setup(self, dtype: str) -> None:
        try:
            import torch
        except ImportError:
            raise NotImplementedError("torch is not installed") from None
        torch.set_num_threads(1)
        self.w, self.net, self.X, self.Y = workload_setup("W1", dtype, n=N_EXAMPLES)
        tdtype = torch.float32 if dtype == "float32" else torch.float64
        layers = []
        for k in range(1, len(self.w.widths)):
            lin = torch.nn.Linear(self.w.widths[k - 1], self.w.widths[k], dtype=tdtype)
            W, b = self.net.layer(k)
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(W.copy()))
                lin.bias.copy_(torch.from_numpy(b.copy()))
            layers += [lin, torch.nn.ReLU()]
        self.model = torch.nn.Sequential(*layers[:-1])
        self.opt = torch.optim.SGD(self.model.parameters(), lr=self.w.lr)
        self.tX = torch.from_numpy(self.X)
        self.tY = torch.from_numpy(self.Y)
        warm(self.fastbp_epoch, times=1)
        warm(self.torch_epoch, times=1)

    def fastbp_epoch(self) -> None:
        self.net.fit(self.X, self.Y, epochs=1, batch_size=1, optimizer="sgd", lr=self.w.lr,
                     shuffle=False, progress=False)  # fmt: skip

    def torch_epoch(self) -> None:
        model, opt = self.model, self.opt
        for i in range(self.tX.shape[0]):
            opt.zero_grad()
            loss = 0.5 * ((model(self.tX[i : i + 1]) - self.tY[i : i + 1]) ** 2).sum()
            loss.backward()
            opt.step()

    def time_fastbp_epoch(self, dtype: str) -> None:
        self.fastbp_epoch()

    def time_torch_epoch(self, dtype: str) -> None:
        self.torch_epoch()

    def track_speedup_vs_torch(self, dtype: str) -> float:
        return median_ratio(self.torch_epoch, self.fastbp_epoch, repeats=3, min_seconds=0.0)

    track_speedup_vs_torch.unit = "ratio"
