"""The multi-task GP surrogate (BoTorch), and a single-task GP when no prior is usable.

Notation
--------
``F``: encoded features (:mod:`metahpo._space`); ``T``: tasks, the target is task 0 and the
selected prior studies are tasks ``1 .. T-1``; ``n``: training points of all tasks together;
``b``: candidates.

Model
-----
``MultiTaskGP`` (intrinsic coregionalisation: ``k((x, s), (x', t)) = k_x(x, x') * B[s, t]``), plus
a GP of the target alone with its own lengthscales, ``s_r^2 k_r(x, x') [s = t = 0]``
(:func:`_target_residual_kernel`: what the target does not share with the prior studies is
modelled, not fitted as noise), over
``[x, task]`` rows, with the target as task 0 and ``output_tasks=[0]`` so the posterior, the
acquisition and its optimiser work on ``F`` columns.  Outcomes arrive already scale-free (Gaussian
copula per task; a target without prior tasks keeps its standardised values), so the model is
built with ``outcome_transform=None``.  The objective's multi-task GP keeps every task's prior mean
at 0, the centre of the copula scale, instead of fitting a constant per task: fitted, the constants
drift towards a pessimistic -1.5 to -4 in fits run to convergence (0 to -1.1 after the engine's
60 iterations; MEASUREMENTS.md, "The transfer model's prior mean held at the copula's centre"), and a
posterior that reverts to a poor score away from the data keeps the search where the prior studies
were good.  Without any prior task a ``SingleTaskGP`` is used (its constant mean fitted).

Schedule (:class:`GPSurrogate`)
-------------------------------
The prior tasks are the ``max_source_studies`` most similar to the target, re-chosen when the
target history has grown by half.  The similarity is Kendall's tau of a 1-nearest-neighbour
prediction at the target's results, shrunk towards each study's mean tau on the other prior
studies by how much a tau on that many results can be trusted
(:func:`metahpo._portfolio.similarity_prior`): on a few results the studies most like the others
are taken, not those that ranked the few results right by chance.  A study whose raw tau lies
more than ``_MISLEADING_Z`` standard deviations (those of a tau between unrelated scores on as
many results) below 0 is left out: it ranks the target's results the wrong way round, and the
task correlation of the model cannot go below 0 to use that.  Each chosen study is
subsampled to its quota (the best half of the quota plus a fixed random half of the rest).
Hyper-parameters are warm-started from the last fit of the same task set (or of the previous task
set when the choice changes), re-optimised at every suggestion while the target history is short,
then whenever it has grown by 10%; in between the model is only conditioned on the new data.
The acquisition is LogEI on a cached target posterior, or qLogEI with running trials as pending
points (:mod:`metahpo._acqf`).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from metahpo._acqf import LogEI, QLogEI
from metahpo._lazy import LazyImport
from metahpo._linalg import robust_cholesky
from metahpo._portfolio import SimilarityPrior, kendall_tau, kendall_tau_noise, knn_predict, similarity_prior
from metahpo._runtime import derived_seed, limit_threads, seeded, threads_for
from metahpo._surrogate import Fitted, TargetData

if TYPE_CHECKING:
    import botorch.fit as botorch_fit
    import botorch.models as botorch_models
    import gpytorch
    import torch

    from metahpo._config import EngineConfig
    from metahpo._prior import AlignedStudy
else:
    torch = LazyImport("torch")
    gpytorch = LazyImport("gpytorch")
    botorch_fit = LazyImport("botorch.fit")
    botorch_models = LazyImport("botorch.models")

__all__ = ["GPFit", "GPSurrogate", "NoisePrior", "TargetPosterior", "fit_gp"]

_REFIT_EVERY_TRIAL_BELOW = 20
_REFIT_GROWTH = 1.1
# the scale at which the fit starts the target-only term (_target_residual_kernel), on the
# copula scale of unit variance: from 0.05 the fit took the target's departures from the prior
# studies as its noise (see the kernel's docstring)
_RESIDUAL_INITIAL_SCALE = 0.5
# a prior study whose nearest-neighbour prediction ranks the target's results the wrong way round
# (Kendall's tau below -_MISLEADING_Z standard deviations of a tau between unrelated scores) is
# left out of the multi-task GP: its task correlation cannot go below 0, so it could only mislead
_MISLEADING_Z = 2.0


@dataclass
class GPFit:
    """A fitted GP and the hyper-parameters to warm-start the next fit from."""

    model: Any
    state: dict[str, Any]
    n_tasks: int


# The noise prior of a GP on one task: BoTorch's LogNormal(-4, 1) with a 1e-4 floor, or
# GPSampler's Gamma(1.1, 30) with a 1e-6 floor (see _gamma_noise_likelihood).
NoisePrior = Literal["lognormal", "gamma"]


def _gamma_noise_likelihood() -> gpytorch.likelihoods.GaussianLikelihood:
    """GPSampler's noise prior, Gamma(1.1, 30) with a 1e-6 floor, for the GPs on one task, in
    place of BoTorch's LogNormal(-4, 1) with a 1e-4 floor.  With BoTorch's prior the
    fitted noise variance on an lcbench task after 20 results was 0.0036, most of the posterior
    sd beside the incumbent (0.05), so LogEI preferred tiny steps from the incumbent over the
    unexplored corner that held the optimum; Gamma(1.1, 30) lets the noise fall to what the data
    support.  Measured without priors (6 cells, 5 held-out tasks x 3 seeds, mean normalised
    regret @25/@50/@100): 0.0640/0.0343/0.0174 with BoTorch's prior, 0.0578/0.0266/0.0150 with
    this one (MEASUREMENTS.md, "Without priors").  The objectives' GPs of a multi-objective study, with
    priors: hypervolume regret @50 0.1180 -> 0.1059 and 0.1136 -> 0.0860 on two splits.  As the
    target-only challenger beside the transfer model it showed no gain (6 cells, regret @50 0.0190
    -> 0.0220; worse on 9 of 90 (task, seed) pairs by more than 0.005, better on 5; differences of
    that size are within the benchmark's round-off noise, MEASUREMENTS.md): that one keeps BoTorch's prior.
    Not measured on their own: the failure and constraint GPs of a study whose priors did not
    record failures or the constraint (the benchmark problems have neither)."""
    return gpytorch.likelihoods.GaussianLikelihood(
        noise_prior=gpytorch.priors.GammaPrior(1.1, 30.0),
        noise_constraint=gpytorch.constraints.GreaterThan(1e-6, initial_value=0.01),
    )


def fit_gp(
    X_tasks: Sequence[np.ndarray],
    z_tasks: Sequence[np.ndarray],
    *,
    device: torch.device,
    warm_state: Mapping[str, Any] | None,
    maxiter: int,
    shared_noise: bool = False,
    noise_prior: NoisePrior = "gamma",
    target_residual: bool = False,
    seed: int = 0,
) -> GPFit:
    """Fit the multi-task (or, for one task, single-task) GP.

    Args:
        X_tasks: per task an ``(n_t, F)`` array; index 0 is the target and must be non-empty.
        z_tasks: per task an ``(n_t,)`` array of scale-free scores (higher is better).
        device: torch device for all tensors (float64).
        warm_state: a previous ``GPFit.state`` for the same task set, or None.
        maxiter: L-BFGS iterations of the marginal-likelihood fit; 0 keeps ``warm_state``'s
            hyper-parameters and only conditions the model on the data (a few milliseconds).
        shared_noise: one noise level for all tasks instead of BoTorch's one per task.  With a
            per-task noise a target of a few points can be "explained" as noise and its
            prediction goes flat: a constraint model (a linear constraint, 3 target points, 3
            prior tasks of 40) predicted 0.61..0.94 where the data went -1.26..1.19, while with
            one noise level it fitted the data at 30, 60, 150 and 300 iterations alike.
        noise_prior: the noise prior of a single-task GP (the multi-task GP keeps BoTorch's);
            GPSampler's by default, see :func:`_gamma_noise_likelihood`.
        target_residual: the objective's model: add a GP of the target alone to a multi-task GP's
            kernel (see :func:`_target_residual_kernel`) and hold every task's prior mean at 0
            (:func:`_centre_means`).
        seed: the suggestion's seed; with the data it seeds torch's generator for the fit (a
            retried fit draws its starting hyper-parameters from it).
    """
    # BoTorch/GPyTorch warn about inputs outside the unit cube (aligned prior points may lie there
    # on purpose), about already scale-free outcomes and about optimiser stops: none is actionable
    # for the user of a sampler, so they are silenced here and only here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        n_tasks = len(X_tasks)
        model = _build_gp(X_tasks, z_tasks, device, shared_noise, noise_prior, target_residual)
        loaded = False
        if warm_state is not None:
            try:
                model.load_state_dict({k: v.to(device) for k, v in warm_state.items()})
                loaded = True
                if target_residual and n_tasks > 1:
                    _centre_means(model)  # a state saved with fitted constants keeps none of them
            except (RuntimeError, KeyError):
                # A stale state of another shape is ignored and the fit starts from the defaults.
                # The failed load may have copied the entries that matched: build the model again.
                model = _build_gp(X_tasks, z_tasks, device, shared_noise, noise_prior, target_residual)
        if maxiter > 0 or not loaded:
            mll = gpytorch.mlls.ExactMarginalLogLikelihood(model.likelihood, model)
            # a failed first attempt is retried from hyper-parameters drawn from their priors with
            # torch's generator: seeded here by the suggestion and the data (the caller's state
            # given back), so a retried fit does not depend on what else drew from that generator
            # before it, and fits do not replay one stream (see seeded), not even on the same
            # data at the next suggestion.  (The multi-task kernel's random starting task
            # covariance is drawn above, from the caller's generator: the engine seeds it per
            # suggestion.)
            fit_seed = derived_seed("fit_gp", seed, *X_tasks, *z_tasks)
            with gpytorch.settings.max_cholesky_size(4096), seeded(fit_seed):
                botorch_fit.fit_gpytorch_mll(
                    mll, optimizer_kwargs={"options": {"maxiter": max(maxiter, 1)}}, max_attempts=2
                )
        model.eval()
        state = {k: v.detach().to("cpu").clone() for k, v in model.state_dict().items()}
        return GPFit(model=model, state=state, n_tasks=n_tasks)


def _build_gp(
    X_tasks: Sequence[np.ndarray],
    z_tasks: Sequence[np.ndarray],
    device: torch.device,
    shared_noise: bool,
    noise_prior: NoisePrior,
    target_residual: bool = False,
) -> Any:
    """The GP of :func:`fit_gp` with its default hyper-parameters, on ``device``."""
    kw: dict[str, Any] = {"dtype": torch.float64, "device": device}
    if len(X_tasks) == 1:
        train_X = torch.as_tensor(X_tasks[0], **kw)  # (n, F)
        train_Y = torch.as_tensor(z_tasks[0], **kw).unsqueeze(-1)  # (n, 1)
        model = botorch_models.SingleTaskGP(
            train_X,
            train_Y,
            outcome_transform=None,
            likelihood=_gamma_noise_likelihood() if noise_prior == "gamma" else None,
        )
    else:
        rows = [np.hstack([X, np.full((X.shape[0], 1), float(t))]) for t, X in enumerate(X_tasks)]
        train_X = torch.as_tensor(np.vstack(rows), **kw)  # (n, F + 1)
        train_Y = torch.as_tensor(np.concatenate(z_tasks), **kw).unsqueeze(-1)  # (n, 1)
        likelihood = None
        if shared_noise:
            lognormal = gpytorch.priors.LogNormalPrior(-4.0, 1.0)  # BoTorch's default prior
            likelihood = gpytorch.likelihoods.GaussianLikelihood(
                noise_prior=lognormal,
                noise_constraint=gpytorch.constraints.GreaterThan(1e-4, initial_value=lognormal.mode),
            )
        model = botorch_models.MultiTaskGP(
            train_X,
            train_Y,
            task_feature=-1,
            output_tasks=[0],
            outcome_transform=None,
            likelihood=likelihood,
        )
        if target_residual:
            model.covar_module = model.covar_module + _target_residual_kernel(train_X.shape[-1] - 1)
            _centre_means(model)
    return model.to(device)


def _centre_means(model: Any) -> None:
    """Hold every task's constant prior mean of a multi-task GP at 0, the centre of the copula
    scale (see the module's docstring), out of the hyper-parameter fit."""
    for mean in model.mean_module.base_means:
        mean.constant = 0.0
        mean.raw_constant.requires_grad_(False)


def _target_residual_kernel(n_features: int) -> Any:
    """``s^2 k_r(x, x') [s = t = 0]``: a GP of the target alone, with its own lengthscales
    (BoTorch's dimension-scaled prior) and scale, added to the shared kernel.

    Without it the target can only depart from the prior studies through the shared kernel's
    lengthscales, which the prior points (most of the rows) set.  What it cannot follow near the
    target's best results, where the copula spreads nearly equal values over a wide range of
    scores, was fitted as the target's own noise.  Traced on lcbench (task 189873, seed 0, split 1,
    20 prior studies): a target noise variance of 0.02-0.30 on the copula scale against the prior
    studies' 0.007, a posterior mean at the best result 0.1-0.9 below its score, and the best
    candidate's LogEI -8.4 to -12 from the 25th trial on, so the acquisition went where the
    posterior was widest (diverging configurations among them).  With this term, same run, from
    the 15th result on: the target noise 0.004-0.03, the mean at the best result within 0.25 of
    its score but for one fit (0.46-0.59), LogEI -1.8 to -6.5 (MEASUREMENTS.md, "The stall's cause").

    The fit starts the scale at ``_RESIDUAL_INITIAL_SCALE`` (0.5).  From 0.05 (until 2026-12) the
    60 iterations of a cold fit hardly moved it, and from 10 target results on took the target's
    departures as its noise instead (0.3-0.7 on a deterministic synthetic function), the fit's
    other basin: 1,500 iterations reached a likelihood 0.11-0.19 per point higher, a noise near
    0.007 and a scale near 0.5.  Started at 0.5, 60 iterations gave the higher likelihood on 17
    of 24 recorded fits (MEASUREMENTS.md, "The target-only term's starting scale")."""
    from botorch.models.utils.gpytorch_modules import get_covar_module_with_dim_scaled_prior

    rbf = get_covar_module_with_dim_scaled_prior(ard_num_dims=n_features, active_dims=list(range(n_features)))
    scaled = gpytorch.kernels.ScaleKernel(rbf)
    scaled.outputscale = _RESIDUAL_INITIAL_SCALE
    return scaled * _target_indicator()()


@functools.cache
def _target_indicator() -> type:
    """The kernel class ``k((x, s), (x', t)) = [s = 0 and t = 0]`` on the task column (the last),
    defined on first use so that importing this module does not import GPyTorch."""

    class TargetIndicator(gpytorch.kernels.Kernel):  # type: ignore[misc]
        is_target_indicator = True  # recognised by this marker (a class per thread may race)

        def forward(
            self, x1: torch.Tensor, x2: torch.Tensor, diag: bool = False, **params: Any
        ) -> torch.Tensor:
            a = (x1[..., -1] == 0).to(x1.dtype)  # (n1,)
            b = (x2[..., -1] == 0).to(x2.dtype)  # (n2,)
            return a * b if diag else a.unsqueeze(-1) * b.unsqueeze(-2)

    return TargetIndicator


@dataclass
class _DirectRBF:
    """What the target's posterior needs of an RBF GP, precomputed: ``lengthscale`` ``(1, F)``,
    the training inputs' features over it ``scaled`` ``(n, F)``, the target's prior covariance
    factor with each training row ``task_row`` ``(n,)`` (ones for a single task), its prior
    variance ``prior_var`` and its constant prior mean ``constant``; for the multi-task GP's
    target-only term (:func:`_target_residual_kernel`) its ``resid_lengthscale`` ``(1, F)``, the
    training features over it ``resid_scaled`` ``(n, F)`` and ``resid_row`` ``(n,)``, its scale
    on the target's rows and 0 on the others."""

    lengthscale: torch.Tensor
    scaled: torch.Tensor
    task_row: torch.Tensor
    prior_var: torch.Tensor
    constant: torch.Tensor
    resid_lengthscale: torch.Tensor | None = None
    resid_scaled: torch.Tensor | None = None
    resid_row: torch.Tensor | None = None

    @staticmethod
    def of(model: Any, X_train: torch.Tensor, multitask: bool) -> _DirectRBF | None:
        kernel, mean = model.covar_module, model.mean_module
        if not multitask:
            if type(kernel) is not gpytorch.kernels.RBFKernel or kernel.active_dims is not None:
                return None
            if type(mean) is not gpytorch.means.ConstantMean:
                return None
            ones = torch.ones(X_train.shape[0], dtype=X_train.dtype, device=X_train.device)
            ls = kernel.lengthscale.detach()
            return _DirectRBF(ls, X_train / ls, ones, ones[0], mean.constant.detach())
        F = X_train.shape[-1] - 1  # the task column is last
        resid = None
        if type(kernel) is gpytorch.kernels.AdditiveKernel and len(kernel.kernels) == 2:
            kernel, resid = kernel.kernels
        if type(kernel) is not gpytorch.kernels.ProductKernel or len(kernel.kernels) != 2:
            return None
        rbf, tasks = kernel.kernels
        if type(rbf) is not gpytorch.kernels.RBFKernel or rbf.active_dims is None:
            return None
        if rbf.active_dims.tolist() != list(range(F)):
            return None
        base = getattr(mean, "base_means", None)
        if base is None or type(base[0]) is not gpytorch.means.ConstantMean:
            return None
        target = X_train[:1].clone()
        target[:, -1] = 0.0  # task 0 = the target
        task_row = tasks(target, X_train).to_dense()[0]  # (n,)
        prior_var = tasks(target, target).to_dense()[0, 0]
        ls = rbf.lengthscale.detach()
        direct = _DirectRBF(ls, X_train[:, :F] / ls, task_row, prior_var, base[0].constant.detach())
        if resid is None:
            return direct
        if type(resid) is not gpytorch.kernels.ProductKernel or len(resid.kernels) != 2:
            return None
        scaled, indicator = resid.kernels
        if type(scaled) is not gpytorch.kernels.ScaleKernel or not getattr(
            indicator, "is_target_indicator", False
        ):
            return None
        if indicator.active_dims is not None:
            return None  # it reads the task column, the last of the full row
        if scaled.active_dims is not None and scaled.active_dims.tolist() != list(range(F)):
            return None
        rbf_r = scaled.base_kernel
        if type(rbf_r) is not gpytorch.kernels.RBFKernel or rbf_r.active_dims is None:
            return None
        if rbf_r.active_dims.tolist() != list(range(F)):
            return None
        ls_r = rbf_r.lengthscale.detach()
        scale = scaled.outputscale.detach()
        direct.resid_lengthscale = ls_r
        direct.resid_scaled = X_train[:, :F] / ls_r
        direct.resid_row = scale * (X_train[:, -1] == 0).to(X_train.dtype)
        direct.prior_var = prior_var + scale
        return direct


class TargetPosterior:
    """Exact posterior of the target task's latent function, with the training-side algebra
    (Cholesky factor ``L`` of the ``(n, n)`` noisy training covariance and ``alpha = K^-1 (y - m)``)
    done once per fit.  Scoring ``b`` candidates then costs one ``(b, n)`` cross-covariance and one
    triangular solve, where BoTorch's per-call posterior re-assembles the joint train/test
    covariance every time (~20-35 ms fixed per call at n = 300 on this CPU).  Agrees with
    ``fit.model.posterior`` to round-off (tested).
    """

    def __init__(self, fit: GPFit) -> None:
        model = fit.model
        self._model = model
        self._multitask = fit.n_tasks > 1
        with torch.no_grad():
            X_train = model.train_inputs[0]  # (n, F) or (n, F + 1) with the task column last
            prior = model.forward(X_train)
            noisy = model.likelihood(prior, [X_train]).covariance_matrix  # (n, n)
            resid = (model.train_targets - prior.mean).unsqueeze(-1)  # (n, 1)
            L = robust_cholesky(noisy, 1e-8 * float(noisy.diagonal().mean()))
        self.device: torch.device = X_train.device
        self._X_train = X_train
        self._L = L  # (n, n) lower
        self._alpha = torch.cholesky_solve(resid, L)  # (n, 1)
        # BoTorch's GPs (an RBF kernel, times the task covariance for the multi-task GP; constant
        # means) are scored without GPyTorch's kernel call: the local search of the acquisition
        # calls this ~60 times per suggestion, and the kernel call's overhead was most of its cost
        # (0.56 ms per call and backward at n = 60, b = 10; 0.19 ms direct).  Checked against the
        # kernel call on training points before use; any other model keeps the kernel call.
        self._direct: _DirectRBF | None = None
        with torch.no_grad():
            direct = _DirectRBF.of(model, X_train, self._multitask)
            if direct is not None:
                probe = X_train[:4, : direct.scaled.shape[-1]]  # (<= 4, F)
                self._direct = direct
                fast = self(probe)
                self._direct = None
                slow = self(probe)
                if all(torch.allclose(a, b, rtol=1e-8, atol=1e-10) for a, b in zip(fast, slow, strict=True)):
                    self._direct = direct

    def __call__(self, X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(b, F)`` target configurations -> posterior mean and standard deviation, each ``(b,)``
        (differentiable in ``X``)."""
        d = self._direct
        if d is not None:
            Z = X / d.lengthscale  # (b, F)
            sq = (
                (Z * Z).sum(-1, keepdim=True) - 2.0 * Z @ d.scaled.T + (d.scaled * d.scaled).sum(-1)
            )  # (b, n)
            cross = torch.exp(-0.5 * sq.clamp_min(0.0)) * d.task_row  # (b, n)
            if d.resid_scaled is not None and d.resid_lengthscale is not None and d.resid_row is not None:
                Zr = X / d.resid_lengthscale  # (b, F)
                sq_r = (
                    (Zr * Zr).sum(-1, keepdim=True)
                    - 2.0 * Zr @ d.resid_scaled.T
                    + (d.resid_scaled * d.resid_scaled).sum(-1)
                )  # (b, n)
                cross = cross + torch.exp(-0.5 * sq_r.clamp_min(0.0)) * d.resid_row
            mean = d.constant + (cross @ self._alpha).squeeze(-1)  # (b,)
            v = torch.linalg.solve_triangular(self._L, cross.transpose(-1, -2), upper=False)  # (n, b)
            return mean, (d.prior_var - (v * v).sum(dim=-2)).clamp_min(1e-12).sqrt()
        if self._multitask:
            X = torch.cat([X, torch.zeros_like(X[..., :1])], dim=-1)  # task 0 = the target
        kernel = self._model.covar_module
        cross = kernel(X, self._X_train).to_dense()  # (b, n)
        mean = self._model.forward(X).mean + (cross @ self._alpha).squeeze(-1)  # (b,)
        v = torch.linalg.solve_triangular(self._L, cross.transpose(-1, -2), upper=False)  # (n, b)
        var = kernel(X, diag=True) - (v * v).sum(dim=-2)  # (b,)
        return mean, var.clamp_min(1e-12).sqrt()


class GPSurrogate:
    """Multi-task GP over the target and the most similar prior studies (single-task without any).

    Args:
        aligned: the prior studies in the target's encoding (may be empty).
        config: the engine's settings.
        noise_prior: the noise prior of the single-task GP (see :func:`fit_gp`).
    """

    def __init__(
        self, aligned: Sequence[AlignedStudy], config: EngineConfig, *, noise_prior: NoisePrior = "gamma"
    ) -> None:
        self._aligned = list(aligned) if config.max_source_studies > 0 else []
        self._config = config
        self._noise_prior = noise_prior
        self._selected: list[int] | None = None
        self._selected_at = 0
        self._similarity_prior: SimilarityPrior | None = None
        self._misleading: list[str] = []  # prior studies left out as misleading at the last choice
        # task set -> (hyper-parameters of its last fit, target size when they were last optimised)
        self._warm: dict[tuple[int, ...], tuple[dict[str, Any], int]] = {}
        self._last_state: dict[str, Any] | None = None

    def fit(self, data: TargetData) -> Fitted:
        # the priors are chosen (and judged misleading) on the results alone, as learns_from_priors
        # judges them; estimated rows (pruned trials) only join the fit
        real = slice(None) if data.estimated is None else ~data.estimated
        sources = self._select_sources(data.X_obs[real], data.z_obs[real])
        # With prior tasks every task is on the copula scale (only ranks compare across studies);
        # the target alone keeps its standardised values.  Ablation without priors (lcbench, 5 tasks
        # x 2 seeds, regret@25/@50): copula 0.138/0.068, standardised 0.093/0.051, GPSampler
        # 0.126/0.037; with priors the copula target was far better (lcbench @50 0.010 vs 0.106).
        target = data.z_obs if sources else data.y_obs
        best_f = data.incumbent(target)
        X_tasks = [data.X_obs] + [X for X, _ in sources]
        z_tasks = [target] + [z for _, z in sources]
        # the task set by index (names need not be unique: two storages' "study")
        key = tuple(self._selected or []) if sources else ()
        init, maxiter, n_fit = self._schedule(key, data.n_results)  # estimates do not count
        n_threads = threads_for(sum(x.shape[0] for x in X_tasks))
        acquisition: LogEI | QLogEI
        with limit_threads(n_threads):
            fit = fit_gp(
                X_tasks,
                z_tasks,
                device=data.device,
                warm_state=init,
                maxiter=maxiter,
                noise_prior=self._noise_prior,
                target_residual=True,
                seed=data.seed,
            )
            posterior = TargetPosterior(fit)
            if data.X_pend.shape[0] > 0:
                acquisition = QLogEI(fit.model, best_f, data.X_pend, seed=data.seed)
            else:
                acquisition = LogEI(posterior, best_f)
        self._warm[key] = (fit.state, n_fit)
        self._last_state = fit.state
        prior_top = [X[np.argsort(-z)[:2]] for X, z in sources[:3]]
        info: dict[str, Any] = {
            "n_source_tasks": len(sources),
            "n_prior_points": int(sum(X.shape[0] for X, _ in sources)),
            "hyperparameters_optimised": maxiter > 0,
        }
        if sources:
            info["sources"] = [self._aligned[i].name for i in (self._selected or [])][: len(sources)]
            info["source_weights"] = [round(w, 4) for w in task_correlations(fit)[1:]]
        if self._misleading:
            info["misleading_sources"] = list(self._misleading)
        return Fitted(
            acquisition=acquisition,
            incumbents=np.vstack([data.top(5), *prior_top]),
            phase="mtgp" if sources else "gp",
            info=info,
            n_threads=n_threads,
            predict=posterior,
            scale="copula" if sources else "standardised",
        )

    def _schedule(self, key: tuple[int, ...], n_obs: int) -> tuple[dict[str, Any] | None, int, int]:
        """(initial hyper-parameters, L-BFGS iterations, target size recorded for this fit)."""
        warm = self._warm.get(key)
        if warm is None:
            # A new task set: start from the last fit of any set (its data-kernel lengthscales carry
            # over; a state of another shape is ignored) and optimise fully.
            return self._last_state, self._config.fit_maxiter_cold, n_obs
        if n_obs < _REFIT_EVERY_TRIAL_BELOW or n_obs >= _REFIT_GROWTH * warm[1]:
            return warm[0], self._config.fit_maxiter_warm, n_obs
        # The history grew by less than 10% since the hyper-parameters were last optimised: keep
        # them and only condition on the new data.
        return warm[0], 0, warm[1]

    @property
    def misleading(self) -> tuple[str, ...]:
        """Names of the prior studies the last choice left out as misleading (empty before any)."""
        return tuple(self._misleading)

    def keeps_priors(self, X_obs: np.ndarray, z_obs: np.ndarray) -> bool:
        """Whether a fit on this target history ``(n, F)``, ``(n,)`` (copula scores) would choose
        prior studies: False without priors, and when every prior study is left out as misleading
        (``max_prior_points`` is not looked at).  The choice :meth:`fit` would make on the same
        history.  A choice that keeps a prior is not stored (the fit that follows makes it, at the
        same size, so asking does not move when choices are made); one that leaves every prior
        out is (the caller models the study alone without a fit here, until the next choice is
        due)."""
        choice = self._due_choice(X_obs, z_obs)
        if choice is None:
            return bool(self._selected)
        if not choice[0]:
            self._commit(choice, X_obs.shape[0])
        return bool(choice[0])

    def _commit(self, choice: tuple[list[int], list[str]], n_obs: int) -> None:
        self._selected, self._misleading = choice
        self._selected_at = n_obs

    def _select_sources(self, X_obs: np.ndarray, z_obs: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Choose prior tasks (:meth:`_due_choice`, when due) and subsample each to its quota."""
        choice = self._due_choice(X_obs, z_obs)
        if choice is not None:
            self._commit(choice, X_obs.shape[0])
        chosen = self._selected
        cfg = self._config
        if not chosen or cfg.max_prior_points < 2:
            return []
        quota = max(2, min(cfg.max_points_per_study, cfg.max_prior_points // len(chosen)))
        out = []
        for i in chosen:
            s = self._aligned[i]
            idx = subsample(s, quota)
            out.append((s.X[idx], s.z[idx]))
        return out

    def _due_choice(self, X_obs: np.ndarray, z_obs: np.ndarray) -> tuple[list[int], list[str]] | None:
        """The prior tasks to use (most similar first) and the names of those left out as
        misleading, when a choice is due: the first time, whenever the history has grown by half
        since the last choice, and when it shrank (the engine serves another study of the same
        space now); None when none is due (or there is no prior)."""
        if not self._aligned:
            return None
        n_obs = X_obs.shape[0]
        if not (
            self._selected is None
            or n_obs < self._selected_at
            or n_obs >= max(self._selected_at + 2, int(1.5 * self._selected_at))
        ):
            return None
        if self._similarity_prior is None:
            self._similarity_prior = similarity_prior(self._aligned)
        prior = self._similarity_prior
        misleading = np.zeros(len(self._aligned), dtype=bool)
        if n_obs >= 3:
            tau = np.array([kendall_tau(z_obs, knn_predict(s, X_obs)) for s in self._aligned])
            sims = [float(v) for v in prior.shrink(tau, n_obs)]
            misleading = tau < -_MISLEADING_Z * np.sqrt(kendall_tau_noise(n_obs))
        else:
            sims = [float(v) for v in prior.mean]
        order = sorted(
            np.flatnonzero(~misleading).tolist(),
            key=lambda i: (
                -sims[i],
                -self._aligned[i].overlap,
                -self._aligned[i].X.shape[0],
                self._aligned[i].content_seed,  # not the name: see AlignedStudy.content_seed
                i,
            ),
        )
        names = [s.name for s, m in zip(self._aligned, misleading, strict=True) if m]
        return order[: self._config.max_source_studies], names


def task_correlations(fit: GPFit) -> list[float]:
    """Correlation of the target task (index 0) with every task of a multi-task fit, ``[1.0, r_1,
    ..., r_T]``, read off the task kernel's ``(T+1, T+1)`` covariance (BoTorch's index kernel; its
    positive variant keeps them >= 0), the target's variance including the scale of its own term
    (:func:`_target_residual_kernel`), so the correlation of the functions at one configuration.
    ``[1.0]`` for a single-task fit."""
    if fit.n_tasks == 1:
        return [1.0]
    residual = 0.0
    for module in fit.model.covar_module.modules():
        if isinstance(module, gpytorch.kernels.ProductKernel) and any(
            getattr(k, "is_target_indicator", False) for k in module.kernels
        ):
            scaled = next(k for k in module.kernels if hasattr(k, "outputscale"))
            residual = float(scaled.outputscale.detach())
    for module in fit.model.covar_module.modules():
        if module is not fit.model.covar_module and hasattr(module, "covar_matrix"):
            with torch.no_grad():
                C = module.covar_matrix.to_dense().double().cpu()  # (T+1, T+1)
            d = C.diagonal().clamp_min(1e-12).sqrt()
            d0 = float((C[0, 0] + residual).clamp_min(1e-12).sqrt())
            r = C[0] / (d0 * d)
            r[0] = 1.0
            return [float(v) for v in r]
    return [float("nan")] * fit.n_tasks


def subsample(study: AlignedStudy, quota: int) -> np.ndarray:
    """Indices of at most ``quota`` points: the best half of the quota, then a fixed random
    sample of the rest, seeded by the study's data (:attr:`AlignedStudy.content_seed`: the same
    choice from call to call and from run to run)."""
    n = study.z.size
    if n <= quota:
        return np.arange(n)
    order = np.argsort(-study.z, kind="stable")
    n_best = quota // 2
    rest = order[n_best:]
    rng = np.random.default_rng(study.content_seed)
    return np.concatenate([order[:n_best], rng.choice(rest, size=quota - n_best, replace=False)])
