"""Training loop of the VAE: objective assembly, beta warm-up, two-stage schedule,
early stopping and a NaN/inf guard. Independent of scikit-learn."""

import copy
import math
import time

import torch
from scipy.stats import spearmanr

from ..exceptions import TrainingError
from ._losses import (
    gaussian_log_likelihood,
    kl_normal,
    l2_regularizer,
    prior_regularizer,
    pull_ratio,
    tsne_regularizer,
)

__all__ = ["Objective", "train_module", "evaluate"]


# the loss terms averaged per epoch into the history
_TERMS = ("loss", "recon", "kl", "reg", "pull")


def _forward(module, batch, x, **kwargs):
    """``module`` on rows ``x`` with the batch's side input and, in pitch mode, pitch."""
    extra = {} if batch.get("pitch") is None else {"pitch": batch["pitch"]}
    return module(x, batch.get("side"), **extra, **kwargs)


def _class_means(mu, idx):
    """The distinct classes of ``idx`` (sorted) and the mean row of ``mu`` of each."""
    idx, owner = torch.unique(idx, return_inverse=True)
    size = torch.bincount(owner, minlength=idx.numel()).to(mu.dtype)
    return idx, mu.new_zeros(idx.numel(), mu.shape[1]).index_add(0, owner, mu) / size[:, None]


class Objective:
    """Negative ELBO plus a weighted perceptual regularizer, on one batch.

    Parameters
    ----------
    regularization : {"kl", "l2", "prior"}
    target : PairTargets, default=None
        Target distances between rated classes ("kl", "l2"), and which pairs count.
    centres : Tensor of shape (n_rated, latent_dim), default=None
        Class centres ("prior").
    sigma : float, default=1.0
        Latent kernel bandwidth of the "kl" regularizer.
    reg_scale : float, default=1.0
        Multiplies the regularizer in the loss (the reported ``reg`` is unscaled).
    class_means : bool, default=False
        Apply "kl"/"l2" to the mean posterior mean of each class present in the batch
        (a sound's frames -> one point per sound) instead of to every row.
    pull : float, default=0.0
        Weight (times ``reg_scale``) of the pull term: the mean squared latent distance
        between rows of the same ``group`` divided by the mean over all pairs of the batch
        (:func:`~perceptual_timbre.model._losses.pull_ratio`).
    dims : int, default=None
        The regularizer, the pull and :meth:`agreement` see the first ``dims`` coordinates
        of ``mu`` only (the perceptual coordinates); None: all of them.

    A batch is a dict with ``x`` (n, n_features), ``cls`` (n,) long index of each row's
    rated class (-1: unrated, VAE loss only) and optionally ``side`` (encoder side input),
    ``pitch`` (MIDI per row, for a pitch-mode module), ``group`` (long, the pull term's
    group of each row, -1: none), ``weight`` (row weights of the ELBO terms) and ``x_in`` (a
    corrupted copy of ``x`` that the encoder sees instead; ``x`` stays the target). The
    regularizer and the pull act on the posterior means ``mu``: the timbre coordinates only,
    never the pitch (which is an input of the module, not a latent).
    """

    def __init__(self, regularization="kl", target=None, centres=None, sigma=1.0,
                 reg_scale=1.0, class_means=False, pull=0.0, dims=None):
        self.regularization = regularization
        self.dims = dims
        self.reg_scale = reg_scale
        self.class_means = class_means
        self.pull = pull
        self.target = target
        self.centres = centres
        self.sigma = sigma

    @property
    def active(self):
        return self.target is not None or self.centres is not None

    @torch.no_grad()
    def agreement(self, module, data, max_rows=4096, max_classes=256):
        """Spearman between the target distances and the rated classes' latent distances.

        The perceptual agreement of the current module: each rated class is placed at the
        mean posterior mean of its rows, and the distances between those points are
        rank-correlated with ``target`` over the pairs it uses. At most ``max_classes``
        evenly spaced rated classes (32,640 pairs: ranking the 8 million pairs of 4,096
        sounds took seconds per epoch) and ``max_rows`` evenly spaced rows of theirs.
        ``None`` without a target or with fewer than 3 such pairs.
        """
        if self.target is None:
            return None
        rows = torch.nonzero(data["cls"] >= 0).flatten()
        classes = torch.unique(data["cls"][rows])
        if classes.numel() > max_classes:
            keep = classes[torch.linspace(0, classes.numel() - 1, max_classes).round().long()]
            rows = rows[torch.isin(data["cls"][rows], keep)]
        if rows.numel() > max_rows:
            rows = rows[torch.linspace(0, rows.numel() - 1, max_rows).round().long()]
        part = _take(data, rows)
        mu = _forward(module, part, part["x"], sample=False)["mu"][:, :self.dims]
        idx, means = _class_means(mu, part["cls"])
        pairs = torch.triu(torch.ones(idx.numel(), idx.numel(), dtype=torch.bool,
                                      device=means.device), diagonal=1)
        target, mask = self.target(idx)
        if mask is not None:
            pairs &= mask
        if int(pairs.sum()) < 3:
            return None
        a = torch.cdist(means, means)[pairs].cpu().numpy()
        b = target[pairs].cpu().numpy()
        return float(spearmanr(a, b)[0])

    def __call__(self, module, batch, *, beta, alpha, generator=None, sample=True):
        out = _forward(module, batch, batch.get("x_in", batch["x"]), generator=generator,
                       sample=sample)
        nll = -gaussian_log_likelihood(batch["x"], out["x_mean"], out["log_scale"])
        kl = kl_normal(out["mu"], out["logvar"])
        reg = out["mu"].new_zeros(())
        perceptual = out["mu"][:, :self.dims]  # the coordinates the ratings shape
        if alpha > 0 and self.active:
            rated = batch["cls"] >= 0
            idx = batch["cls"][rated]
            mu = perceptual[rated]
            if self.regularization == "prior" and idx.numel() > 0:
                reg = prior_regularizer(mu, out["logvar"][rated][:, :self.dims],
                                        self.centres[idx])
            elif idx.numel() > 1 and self.regularization != "prior":
                if self.class_means:
                    idx, mu = _class_means(mu, idx)
                # rows matched to their OWN class: target[i, j] = D[cls_i, cls_j]
                target, mask = self.target(idx)
                if idx.numel() < 2:
                    pass  # one class in the batch: no pair to compare
                elif self.regularization == "kl":
                    reg = tsne_regularizer(mu, target, sigma=self.sigma, mask=mask)
                else:
                    reg = l2_regularizer(mu, target, mask=mask)
        pull = out["mu"].new_zeros(())
        if self.pull > 0 and batch.get("group") is not None:
            pull = pull_ratio(perceptual, batch["group"])
        w = batch.get("weight")
        if w is None:
            nll_m, kl_m = nll.mean(), kl.mean()
        else:
            nll_m, kl_m = (nll * w).sum() / w.sum(), (kl * w).sum() / w.sum()
        loss = (nll_m + beta * kl_m + alpha * self.reg_scale * reg
                + self.pull * self.reg_scale * pull)
        return {"loss": loss, "recon": nll_m, "kl": kl_m, "reg": reg, "pull": pull,
                "elbo_rows": -(nll + kl)}


def _batches(n, batch_size, generator, device, groups=None, rows_per_group=1):
    """Row indices of each batch of an epoch.

    Without ``groups``: a permutation of the ``n`` rows cut into ``batch_size`` chunks. With
    ``groups`` (a list of row-index tensors, one per class): a permutation of the classes cut
    into ``batch_size`` classes per batch, each giving ``rows_per_group`` rows drawn with
    replacement (stratified batches: every class of a batch has the same weight).
    """
    if groups is None:
        order = torch.randperm(n, generator=generator).to(device)
        for start in range(0, n, batch_size):
            yield order[start : start + batch_size]
        return
    order = torch.randperm(len(groups), generator=generator).tolist()
    for start in range(0, len(order), batch_size):
        picks = []
        for g in order[start : start + batch_size]:
            rows = groups[g]
            picks.append(rows[torch.randint(rows.numel(), (rows_per_group,),
                                            generator=generator)])
        yield torch.cat(picks).to(device)


def _take(data, idx):
    return {k: v[idx] for k, v in data.items()}


@torch.no_grad()
def evaluate(module, objective, data, *, beta, alpha, batch_size=4096):
    """Objective terms on ``data`` at the posterior means (deterministic), averaged over rows."""
    module.eval()
    n = data["x"].shape[0]
    # the regularizer is a batch statistic: evaluate it on the whole set at once
    out = objective(module, data, beta=beta, alpha=alpha, sample=False) if n <= batch_size else None
    if out is None:
        sums = dict.fromkeys(_TERMS, 0.0)
        for start in range(0, n, batch_size):
            part = _take(data, slice(start, start + batch_size))
            o = objective(module, part, beta=beta, alpha=alpha, sample=False)
            m = part["x"].shape[0]
            for k in sums:
                sums[k] += float(o[k]) * m
        return {k: v / n for k, v in sums.items()}
    return {k: float(out[k]) for k in _TERMS}


def _check_finite(vals, epoch, learning_rate):
    if not math.isfinite(vals["loss"]):
        parts = ", ".join(f"{k}={vals[k]:.4g}" for k in ("recon", "kl", "reg"))
        raise TrainingError(
            f"the training loss became {vals['loss']} at epoch {epoch + 1} ({parts}); "
            f"training diverged. Lower learning_rate (now {learning_rate}) or alpha, or "
            f"rescale X (e.g. log-magnitudes instead of raw magnitudes)."
        )


def train_module(
    module,
    data,
    objective,
    *,
    val_data=None,
    max_epochs=100,
    batch_size=128,
    learning_rate=1e-3,
    lr_schedule="constant",
    weight_decay=0.0,
    input_noise=0.0,
    beta=1.0,
    warmup=0,
    alpha=1.0,
    pretrain_epochs=0,
    early_stopping=False,
    n_iter_no_change=10,
    tol=1e-4,
    shuffle_generator=None,
    noise_generator=None,
    groups=None,
    rows_per_group=1,
    verbose=0,
    name="PerceptualVAE",
):
    """Train ``module`` in place with Adam (AdamW with ``weight_decay``) and return the history.

    ``input_noise`` > 0 trains a denoising VAE: the encoder sees each batch plus Gaussian
    noise of that standard deviation (drawn with ``noise_generator``), the reconstruction
    target stays clean. ``lr_schedule="cosine"`` decays the step size from
    ``learning_rate`` towards 0 over ``max_epochs`` (half a cosine, set per epoch). With
    ``groups`` (one index tensor of rows per class), batches are stratified: ``batch_size``
    classes x ``rows_per_group`` rows (see ``_batches``).

    Schedule: ``beta`` rises linearly over the first ``warmup`` epochs; the regularizer
    weight is 0 for the first ``pretrain_epochs`` epochs (stage 1, plain VAE), then
    ``alpha`` (stage 2). With ``early_stopping`` and ``val_data``, a stage ends after
    ``n_iter_no_change`` epochs without a relative improvement of ``tol`` of the validation
    loss, and the best weights of the stage are restored: a stalled pre-training thus
    moves on to the regularized stage instead of ending the fit.

    Returns
    -------
    history : list of dict
        Per epoch: ``epoch``, ``loss``, ``recon`` (negative log-likelihood per row),
        ``kl``, ``reg``, ``pull``, ``val_loss`` (None without validation), ``agreement``
        (the perceptual agreement at the end of the epoch, :meth:`Objective.agreement`;
        None without a target), ``beta``, ``alpha``, ``stage``, ``time`` (seconds since
        the start).

    Raises
    ------
    TrainingError
        If the loss becomes NaN or infinite.
    """
    from tqdm.auto import tqdm

    device = data["x"].device
    if weight_decay > 0:
        optimizer = torch.optim.AdamW(module.parameters(), lr=learning_rate,
                                      weight_decay=weight_decay)
    else:
        optimizer = torch.optim.Adam(module.parameters(), lr=learning_rate)
    n = data["x"].shape[0]
    acc_dtype = torch.float32 if device.type == "mps" else torch.float64  # MPS has no float64
    history = []
    start = time.perf_counter()
    stage = 1 if pretrain_epochs > 0 and alpha > 0 and objective.active else 2
    best, best_state, stale = math.inf, None, 0
    bar = tqdm(total=max_epochs, desc=name, disable=verbose != 1, leave=False)
    try:
        for epoch in range(max_epochs):
            if lr_schedule == "cosine":
                for param_group in optimizer.param_groups:
                    param_group["lr"] = learning_rate * 0.5 * (
                        1.0 + math.cos(math.pi * epoch / max_epochs))
            if stage == 1 and epoch >= pretrain_epochs:
                stage, best, stale = 2, math.inf, 0
            beta_e = beta * min(1.0, (epoch + 1) / warmup) if warmup > 0 else beta
            alpha_e = alpha if stage == 2 else 0.0
            module.train()
            # summed on the device and read once per epoch: a read per step would wait for
            # the GPU at every step (small stratified batches are bound by that wait)
            sums = torch.zeros(len(_TERMS), dtype=acc_dtype, device=device)
            n_rows = 0
            for idx in _batches(n, batch_size, shuffle_generator, device, groups,
                                rows_per_group):
                batch = _take(data, idx)
                if input_noise > 0:
                    x = batch["x"]
                    batch["x_in"] = x + input_noise * torch.randn(
                        x.shape, generator=noise_generator, device=x.device, dtype=x.dtype
                    )
                terms = objective(
                    module, batch, beta=beta_e, alpha=alpha_e, generator=noise_generator
                )
                optimizer.zero_grad(set_to_none=True)
                terms["loss"].backward()
                optimizer.step()
                m = idx.numel()
                n_rows += m
                sums += torch.stack([terms[k].detach() for k in _TERMS]).to(acc_dtype) * m
            record = {"epoch": epoch + 1,
                      **dict(zip(_TERMS, (sums / n_rows).tolist(), strict=True))}
            _check_finite(record, epoch, learning_rate)
            val_loss = None
            if val_data is not None:
                val_loss = evaluate(module, objective, val_data, beta=beta, alpha=alpha_e)["loss"]
                if not math.isfinite(val_loss):
                    raise TrainingError(
                        f"the validation loss became {val_loss} at epoch {epoch + 1}; training "
                        f"diverged. Lower learning_rate (now {learning_rate})."
                    )
            module.eval()
            record.update(val_loss=val_loss, agreement=objective.agreement(module, data),
                          beta=beta_e, alpha=alpha_e, stage=stage,
                          time=time.perf_counter() - start)
            history.append(record)
            bar.update(1)
            bar.set_postfix(
                {k: f"{record[k]:.4g}" for k in ("loss", "recon", "kl", "reg")}
                | ({"val": f"{val_loss:.4g}"} if val_loss is not None else {})
            )
            if verbose >= 2:
                val = "" if val_loss is None else f", val_loss={val_loss:.4f}"
                print(
                    f"[{name}] epoch {epoch + 1}/{max_epochs}: loss={record['loss']:.4f}, "
                    f"recon={record['recon']:.4f}, kl={record['kl']:.4f}, "
                    f"reg={record['reg']:.4f}, pull={record['pull']:.4f}{val} "
                    f"(beta={beta_e:.3g}, alpha={alpha_e:.3g}, "
                    f"{record['time']:.1f}s)"
                )
            if early_stopping and val_loss is not None:
                if val_loss < best - tol * abs(best) or best_state is None:
                    best, stale = val_loss, 0
                    best_state = copy.deepcopy(module.state_dict())
                else:
                    stale += 1
                if stale >= n_iter_no_change:
                    module.load_state_dict(best_state)
                    if stage == 1:
                        stage, best, best_state, stale = 2, math.inf, None, 0
                        pretrain_epochs = epoch + 1
                        if verbose >= 2:
                            print(f"[{name}] pre-training converged; regularizing from now on.")
                        continue
                    if verbose >= 2:
                        print(f"[{name}] early stopping at epoch {epoch + 1}.")
                    best_state = None
                    break
        else:
            if early_stopping and best_state is not None:
                module.load_state_dict(best_state)
    finally:
        bar.close()
    module.eval()
    return history
