"""Neural surrogate meta-trained on every prior study: a deep-kernel GP in the manner of FSBO.

Choice
------
Wistuba & Grabocka, "Few-Shot Bayesian Optimization with Deep Kernel Surrogates" (ICLR 2021):
a GP whose kernel acts on features ``phi(x)`` of a small MLP; the MLP and the kernel's
hyper-parameters are meta-trained by maximising the GP marginal likelihood of batches drawn from
the prior tasks, then fine-tuned for a few steps on the target's own results, and the target is
predicted by the exact GP posterior of its results under that kernel (plus a fixed term of the
target alone on the encoded features, :class:`_TargetTerm`, so that a configuration unlike every
result keeps some uncertainty).  Chosen over ABLR (Perrone et al., "Scalable Hyperparameter
Transfer Learning", NeurIPS 2018: Bayesian linear regression on shared features) because

* a training step costs the same whatever the size of the knowledge base (a few tasks x a few dozen
  points per step), so all prior trials are used, where the multi-task GP must subsample;
* the uncertainty is a GP's, growing away from the target's data, not only a last-layer posterior,
  so LogEI and the acquisition optimiser of :mod:`metahpo._gp` serve it unchanged;
* a suggestion conditions on the target's points only (``n`` x ``n``), so its cost does not grow
  with the knowledge base either.

Published on HPO-B (86 test tasks), FSBO reaches GP's regret at 100 trials after 40 (field notes).

Notation
--------
``F``: encoded features (:mod:`metahpo._space`); ``H``: hidden width; ``D``: learned features;
``T``: tasks in a training batch; ``B``: points per task in a batch; ``n``: target points;
``b``: candidates.  Everything is float64 (the Cholesky factors need it).

This module imports torch at import time: import it lazily (the engine does).  The disk cache of
trained models is :mod:`metahpo._neural_cache`; the surrogate the engine calls is
:class:`metahpo._neural_surrogate.NeuralSurrogate`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from metahpo._linalg import robust_cholesky
from metahpo._runtime import derived_seed, seeded
from metahpo._validation import require

__all__ = ["AdaptedPredictor", "DeepKernelGP", "NeuralConfig", "TrainResult", "meta_train"]


@dataclass(frozen=True)
class NeuralConfig:
    """Sizes and schedule of the deep-kernel GP (part of the cache fingerprint)."""

    hidden: int = 64
    features: int = 16
    batch_tasks: int = 8
    batch_points: int = 48
    lr: float = 3e-3
    max_epochs: int = 40
    steps_per_epoch: int = 40
    adapt_steps: int = 20
    adapt_lr: float = 1e-3

    def __post_init__(self) -> None:
        for name in ("hidden", "features", "batch_tasks", "max_epochs", "steps_per_epoch"):
            require(getattr(self, name) >= 1, f"NeuralConfig.{name}", "must be >= 1", getattr(self, name))
        require(self.batch_points >= 4, "NeuralConfig.batch_points", "must be >= 4", self.batch_points)
        require(self.adapt_steps >= 0, "NeuralConfig.adapt_steps", "must be >= 0", self.adapt_steps)


def _unit_rbf(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """``(..., a, D), (..., b, D) -> (..., a, b)``: ``exp(-|a - b|^2 / 2)``, unit lengthscales."""
    d2 = A.pow(2).sum(-1, keepdim=True) + B.pow(2).sum(-1).unsqueeze(-2) - 2.0 * A @ B.transpose(-1, -2)
    return torch.exp(-0.5 * d2.clamp_min(0.0))


class DeepKernelGP(torch.nn.Module):
    """``k(x, x') = s * exp(-|phi(x) - phi(x')|^2 / 2)`` with ``phi`` an MLP ``F -> H -> H -> D``
    (its last layer absorbs the lengthscales), constant mean ``m`` and noise ``sigma^2``."""

    def __init__(self, n_features: int, hidden: int = 64, features: int = 16) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(n_features, hidden),
            torch.nn.ReLU(),
            torch.nn.Linear(hidden, hidden),
            torch.nn.ReLU(),
            torch.nn.Linear(hidden, features),
        )
        self.raw_outputscale = torch.nn.Parameter(torch.zeros(()))
        self.raw_noise = torch.nn.Parameter(torch.tensor(-3.0))
        self.mean = torch.nn.Parameter(torch.zeros(()))

    def features(self, X: torch.Tensor) -> torch.Tensor:
        """``(..., b, F) -> (..., b, D)``."""
        return self.net(X)  # type: ignore[no-any-return]

    @property
    def outputscale(self) -> torch.Tensor:
        out: torch.Tensor = torch.nn.functional.softplus(self.raw_outputscale) + 1e-4
        return out

    @property
    def noise(self) -> torch.Tensor:
        out: torch.Tensor = torch.nn.functional.softplus(self.raw_noise) + 1e-4
        return out

    def kernel(self, A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
        """``(..., a, D), (..., b, D) -> (..., a, b)`` on features."""
        return self.outputscale * _unit_rbf(A, B)

    def noisy_cholesky(self, phi: torch.Tensor) -> torch.Tensor:
        """``(..., b, D)`` -> lower Cholesky factor ``(..., b, b)`` of ``K + sigma^2 I``."""
        K = self.kernel(phi, phi)
        eye = torch.eye(K.shape[-1], dtype=K.dtype, device=K.device)
        return robust_cholesky(K + self.noise * eye, 1e-6)

    def nll(self, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Negative log marginal likelihood per point, averaged over the batch:
        ``(T, B, F), (T, B) -> ()``."""
        phi = self.features(X)
        L = self.noisy_cholesky(phi)
        r = (y - self.mean).unsqueeze(-1)  # (T, B, 1)
        alpha = torch.cholesky_solve(r, L)
        fit = 0.5 * (r * alpha).sum((-1, -2))
        logdet = torch.log(torch.diagonal(L, dim1=-2, dim2=-1)).sum(-1)
        n = X.shape[-2]
        return ((fit + logdet) / n + 0.5 * math.log(2 * math.pi)).mean()


@dataclass
class TrainResult:
    """A meta-trained model and how the training went."""

    state: dict[str, torch.Tensor]
    history: list[dict[str, float]]
    n_features: int
    config: NeuralConfig
    seconds: float
    device: str


def meta_train(
    tasks: Sequence[tuple[np.ndarray, np.ndarray]],
    n_features: int,
    *,
    config: NeuralConfig | None = None,
    seed: int = 0,
    device: torch.device | None = None,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
    init: TrainResult | None = None,
) -> TrainResult:
    """Meta-train the deep-kernel GP on prior tasks.

    Args:
        tasks: per prior task ``(X (n_t, F), z (n_t,))`` in the target's encoding, scale-free
            scores (higher is better); tasks with fewer than 2 points are ignored.
        n_features: ``F``.
        config: sizes and schedule.
        seed: seeds initialisation, the validation split and the batches.
        device: torch device (CPU by default).
        on_epoch: called after every epoch with ``{"epoch", "train_nll", "val_nll", "seconds"}``
            (a progress bar or a log); an exception there (e.g. ``KeyboardInterrupt``) ends the
            training without a result, so nothing half-trained can be cached.
        init: a model trained for the same space and settings on other prior tasks (e.g. before
            more studies finished): training starts from its weights and runs
            ``max(1, max_epochs // 4)`` epochs instead of ``max_epochs``.

    Returns:
        the weights after the last epoch and the per-epoch history.  The history's ``val_nll``
        (the NLL of held-out prior tasks, when there are 10 or more) is a diagnostic only: it
        neither stops the training nor picks the weights.  Used for early stopping (patience 5)
        it ended the training after 5-16 epochs, at its best as early as the second, while the
        search on held-out tasks kept getting better with all 40 (MEASUREMENTS.md, "Full mode against
        GPSampler, and the meta-training that ends early").  It scores how well the meta-learnt
        kernel fits a new task without seeing any of it; the search adapts the kernel to its
        target and gains from sharper features.
    """
    cfg = config or NeuralConfig()
    dev = device or torch.device("cpu")
    data = [(X, z) for X, z in tasks if X.shape[0] >= 2]
    require(len(data) >= 1, "tasks", "need at least one prior task with 2 or more points", len(tasks))
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(data))
    n_val = len(data) // 10 if len(data) >= 10 else 0
    val_idx, train_idx = order[:n_val], order[n_val:]
    kw: dict[str, Any] = {"dtype": torch.float64, "device": dev}
    tensors = [(torch.as_tensor(X, **kw), torch.as_tensor(z, **kw)) for X, z in data]
    # Validation: held-out tasks when there are 10 or more, else the training tasks themselves.
    val_sets = [
        (X[: cfg.batch_points * 2], z[: cfg.batch_points * 2])
        for X, z in (tensors[i] for i in (val_idx if n_val else train_idx))
    ]
    with seeded(seed):
        model = DeepKernelGP(n_features, cfg.hidden, cfg.features).to(**kw)
    epochs = cfg.max_epochs
    if init is not None:
        require(
            init.n_features == n_features and init.config == cfg,
            "init",
            "must be a model of the same space and settings",
            (init.n_features, n_features),
        )
        model.load_state_dict({k: v.to(dev) for k, v in init.state.items()})
        epochs = max(1, cfg.max_epochs // 4)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    history: list[dict[str, float]] = []
    t0 = time.perf_counter()
    for epoch in range(epochs):
        model.train()
        losses = []
        for _ in range(cfg.steps_per_epoch):
            chosen = rng.choice(train_idx, size=min(cfg.batch_tasks, train_idx.size), replace=False)
            b = min(cfg.batch_points, min(tensors[i][0].shape[0] for i in chosen))
            rows = [rng.choice(tensors[i][0].shape[0], size=b, replace=False) for i in chosen]
            Xb = torch.stack([tensors[i][0][r] for i, r in zip(chosen, rows, strict=True)])  # (T, B, F)
            zb = torch.stack([tensors[i][1][r] for i, r in zip(chosen, rows, strict=True)])  # (T, B)
            opt.zero_grad()
            loss = model.nll(Xb, zb)
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
            losses.append(loss.item())
        model.eval()
        with torch.no_grad():
            val = float(np.mean([float(model.nll(X.unsqueeze(0), z.unsqueeze(0))) for X, z in val_sets]))
        row = {
            "epoch": float(epoch + 1),
            "train_nll": float(np.mean(losses)),
            "val_nll": val,
            "seconds": time.perf_counter() - t0,
        }
        history.append(row)
        if on_epoch is not None:
            on_epoch(row)
    state = {k: v.detach().to("cpu").clone() for k, v in model.state_dict().items()}
    return TrainResult(state, history, n_features, cfg, time.perf_counter() - t0, str(dev))


# the variance of the adapted model's term of the target alone (_TargetTerm), on the copula
# scale of unit variance: the multi-task GP's target-only term starts at the same value
# (metahpo._mtgp._RESIDUAL_INITIAL_SCALE)
_TERM_VARIANCE = 0.5


class _TargetTerm:
    """The adapted model's term of the target alone: ``r * exp(-|(x - x') / l|^2 / 2)`` on the
    encoded features ``x`` (not on the learned ones), ``r = _TERM_VARIANCE``, every lengthscale
    ``l`` the mode of BoTorch's dimension-scaled prior ``LogNormal(sqrt(2) + log(F) / 2, sqrt(3))``.

    Both are fixed, not fitted: fitted by the target's marginal likelihood, ``r`` fell below
    0.0005 at every suggestion printed of a traced lcbench run, as the target's results never test the
    term where it matters, yet a configuration unlike every result so far is where the
    meta-learnt kernel is least tested.  Without the term the learned features tied an lcbench box
    corner to the target's poor results: predicted 4.7-6.6 standard deviations below the best
    result, it was never tried, while it beats 500 random configurations on 21 of 34 lcbench tasks
    and GPSampler found it at its 14th trial (MEASUREMENTS.md, "The neural surrogate's term of the target
    alone").
    """

    def __init__(self, n_features: int, variance: float = _TERM_VARIANCE) -> None:
        self.variance = variance
        self.lengthscale = math.exp(math.sqrt(2.0) + 0.5 * math.log(n_features) - 3.0)

    def kernel(self, A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
        """``(a, F), (b, F) -> (a, b)``."""
        return self.variance * _unit_rbf(A / self.lengthscale, B / self.lengthscale)


class AdaptedPredictor:
    """The meta-trained model fine-tuned on the target's results and conditioned on them, its
    kernel plus a term of the target alone (:class:`_TargetTerm`).  The fine-tuning does not see
    the term (the learned kernel's noise, scale and mean are fitted as in meta-training); the
    prior variance is the learned scale plus the term's.

    ``pending`` configurations (running trials) are added as observations at the posterior mean
    (kriging believer): the mean is unchanged and the uncertainty around them collapses, so the
    acquisition moves elsewhere.
    """

    def __init__(
        self,
        result: TrainResult,
        X_obs: np.ndarray,
        z_obs: np.ndarray,
        pending: np.ndarray,
        *,
        device: torch.device,
        seed: int,
    ) -> None:
        cfg = result.config
        kw: dict[str, Any] = {"dtype": torch.float64, "device": device}
        self.device = device
        model = DeepKernelGP(result.n_features, cfg.hidden, cfg.features).to(**kw)
        model.load_state_dict({k: v.to(device) for k, v in result.state.items()})
        X = torch.as_tensor(X_obs, **kw)  # (n, F)
        z = torch.as_tensor(z_obs, **kw)  # (n,)
        if X.shape[0] >= 2 and cfg.adapt_steps > 0:
            with seeded(derived_seed("neural-adapt", seed)):
                opt = torch.optim.Adam(model.parameters(), lr=cfg.adapt_lr)
                for _ in range(cfg.adapt_steps):
                    opt.zero_grad()
                    loss = model.nll(X.unsqueeze(0), z.unsqueeze(0))
                    loss.backward()  # type: ignore[no-untyped-call]
                    opt.step()
        model.eval()
        for p in model.parameters():
            p.requires_grad_(False)
        self._model = model
        self._term = _TargetTerm(result.n_features)
        self._condition(X, z)
        if pending.shape[0] > 0:
            P = torch.as_tensor(pending, **kw)
            with torch.no_grad():
                believed, _ = self(P)
            self._condition(torch.cat([X, P]), torch.cat([z, believed]))

    def _covariance(
        self, A: torch.Tensor, phi_a: torch.Tensor, B: torch.Tensor, phi_b: torch.Tensor
    ) -> torch.Tensor:
        """``(a, F), (a, D), (b, F), (b, D) -> (a, b)``: the learned kernel plus the target's term."""
        return self._model.kernel(phi_a, phi_b) + self._term.kernel(A, B)

    def _condition(self, X: torch.Tensor, z: torch.Tensor) -> None:
        with torch.no_grad():
            self._X = X  # (n, F)
            self._phi = self._model.features(X)  # (n, D)
            K = self._covariance(X, self._phi, X, self._phi)  # (n, n)
            eye = torch.eye(K.shape[-1], dtype=K.dtype, device=K.device)
            self._L = robust_cholesky(K + self._model.noise * eye, 1e-6)  # (n, n)
            self._alpha = torch.cholesky_solve((z - self._model.mean).unsqueeze(-1), self._L)  # (n, 1)

    def __call__(self, X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(b, F)`` -> posterior mean and standard deviation of the target, each ``(b,)``."""
        phi = self._model.features(X)  # (b, D)
        cross = self._covariance(X, phi, self._X, self._phi)  # (b, n)
        mean = self._model.mean + (cross @ self._alpha).squeeze(-1)
        v = torch.linalg.solve_triangular(self._L, cross.transpose(-1, -2), upper=False)  # (n, b)
        var = self._model.outputscale + self._term.variance - (v * v).sum(-2)
        return mean, var.clamp_min(1e-12).sqrt()
