"""ELBO terms and perceptual regularizers, as pure functions of tensors.

Every function is differentiable and device-agnostic. Regularizers take latent points
``z`` of shape ``(n, d)`` and the matching target distances ``(n, n)`` (e.g. the rated
dissimilarities of each row's class, looked up with :meth:`Ratings.index_of`), so callers
are responsible for matching rows to classes; the functions never reorder anything.
"""

import math

import torch

__all__ = [
    "gaussian_log_likelihood",
    "kl_normal",
    "tsne_regularizer",
    "l2_regularizer",
    "prior_regularizer",
    "pull_ratio",
]

_LOG_2PI = math.log(2.0 * math.pi)


def gaussian_log_likelihood(x, mean, log_scale):
    """Per-row ``log N(x | mean, diag(exp(log_scale))**2)``, summed over features.

    Parameters
    ----------
    x, mean : Tensor of shape (n, n_features)
    log_scale : Tensor broadcastable to ``x``
        Log standard deviation.

    Returns
    -------
    Tensor of shape (n,)

    Examples
    --------
    >>> import torch
    >>> from perceptual_timbre.model._losses import gaussian_log_likelihood
    >>> float(gaussian_log_likelihood(torch.zeros(1, 1), torch.zeros(1, 1), torch.zeros(1)))
    -0.9189...
    """
    z = (x - mean) * torch.exp(-log_scale)
    return (-0.5 * z.pow(2) - log_scale - 0.5 * _LOG_2PI).sum(dim=-1)


def kl_normal(mu, logvar, prior_mu=None):
    """Per-row ``KL(N(mu, diag(exp(logvar))) || N(prior_mu, I))`` (``prior_mu`` = 0 by default).

    Returns
    -------
    Tensor of shape (n,)
    """
    diff = mu if prior_mu is None else mu - prior_mu
    return 0.5 * (diff.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=-1)


def _valid_pairs(n, mask, device):
    valid = ~torch.eye(n, dtype=torch.bool, device=device)
    return valid if mask is None else valid & mask.to(device=device, dtype=torch.bool)


def _sq_distances(z):
    # explicit differences rather than cdist: finite gradients for coincident points
    return (z.unsqueeze(0) - z.unsqueeze(1)).pow(2).sum(-1)


def tsne_regularizer(z, target, *, sigma=1.0, mask=None):
    r"""The paper's t-SNE-inspired perceptual regularizer (Esling et al. 2018, Eq. 8-10).

    For each row :math:`i`, a Gaussian kernel over latent distances gives the neighbour
    distribution :math:`p_{j|i} \propto \exp(-\lVert z_i - z_j\rVert^2 / 2\sigma^2)`, a
    Student-t kernel over the target distances gives
    :math:`q_{j|i} \propto (1 + T_{ij}^2)^{-1}`, and the loss is the mean over rows of
    :math:`\sum_{j \neq i} p_{j|i} \log(p_{j|i} / q_{j|i})`. This is the quantity that
    :func:`perceptual_timbre.metrics.latent_kl_divergence` reports.

    Parameters
    ----------
    z : Tensor of shape (n, d)
        Latent points (n >= 2).
    target : Tensor of shape (n, n)
        Target distance between the classes of rows i and j (0 within a class).
    sigma : float, default=1.0
        Bandwidth of the latent Gaussian kernel.
    mask : bool Tensor of shape (n, n), default=None
        Pairs to use (e.g. pairs whose classes were actually rated); the diagonal is
        always left out.

    Returns
    -------
    Tensor (scalar), >= 0.

    Examples
    --------
    >>> import torch
    >>> from perceptual_timbre.model._losses import tsne_regularizer
    >>> T = torch.tensor([[0.0, 1.0, 2.0], [1.0, 0.0, 1.0], [2.0, 1.0, 0.0]])
    >>> near = tsne_regularizer(torch.tensor([[0.0], [1.0], [2.0]]), T)
    >>> far = tsne_regularizer(torch.tensor([[0.0], [2.0], [1.0]]), T)
    >>> bool(near < far)
    True
    """
    valid = _valid_pairs(z.shape[0], mask, z.device)
    neg_inf = torch.tensor(float("-inf"), dtype=z.dtype, device=z.device)
    logits = torch.where(valid, -_sq_distances(z) / (2.0 * sigma**2), neg_inf)
    log_p = torch.where(valid, logits - torch.logsumexp(logits, dim=1, keepdim=True), 0.0)
    log_q = torch.where(valid, -torch.log1p(target.to(z.dtype).pow(2)), neg_inf)
    log_q = torch.where(valid, log_q - torch.logsumexp(log_q, dim=1, keepdim=True), 0.0)
    terms = torch.where(valid, log_p.exp() * (log_p - log_q), 0.0)
    has = valid.any(dim=1)
    if not bool(has.any()):
        return z.new_zeros(())
    return terms.sum(dim=1)[has].mean()


def l2_regularizer(z, target, *, mask=None, eps=1e-8):
    """Mean squared difference between latent and target distances, each scaled by its mean.

    Dividing both sets of distances by their batch mean makes the term invariant to the
    overall scale of the ratings and of the latent space; only relative distances count.

    Parameters
    ----------
    z : Tensor of shape (n, d)
    target : Tensor of shape (n, n)
    mask : bool Tensor of shape (n, n), default=None
        Pairs to use; the diagonal is always left out.

    Returns
    -------
    Tensor (scalar), >= 0.

    Examples
    --------
    >>> import torch
    >>> from perceptual_timbre.model._losses import l2_regularizer
    >>> T = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    >>> float(l2_regularizer(torch.tensor([[0.0], [5.0]]), T)) < 1e-6
    True
    """
    valid = _valid_pairs(z.shape[0], mask, z.device)
    if not bool(valid.any()):
        return z.new_zeros(())
    dz = torch.sqrt(_sq_distances(z)[valid] + eps)  # eps: finite gradient at zero distance
    dt = target.to(z.dtype)[valid]
    dz = dz / dz.mean().clamp_min(eps)
    dt = dt / dt.mean().clamp_min(eps)
    return torch.mean((dz - dt).pow(2))


def prior_regularizer(mu, logvar, centres):
    """Mean KL between each row's posterior and a unit Gaussian at its class centre.

    ``centres`` (n, d) are e.g. MDS positions of the rated classes; added to the usual
    ``KL(q || N(0, I))`` this acts as a class-conditional prior.
    """
    return kl_normal(mu, logvar, prior_mu=centres).mean()


def pull_ratio(z, group, eps=1e-8):
    """Mean squared distance between rows of one group over the mean over all pairs.

    Pulls together the latent points of rows that share a timbre (e.g. one instrument at one
    dynamic, at different pitches) relative to the spread of the batch, so it cannot be
    lowered by shrinking the whole space. Rows of group -1 only count in the denominator.

    Parameters
    ----------
    z : Tensor of shape (n, d)
    group : long Tensor of shape (n,)

    Returns
    -------
    Tensor (scalar), >= 0; 0 when no two rows of the batch share a group.

    Examples
    --------
    >>> import torch
    >>> from perceptual_timbre.model._losses import pull_ratio
    >>> z = torch.tensor([[0.0], [0.0], [3.0], [3.0]])
    >>> float(pull_ratio(z, torch.tensor([0, 0, 1, 1])))
    0.0
    >>> float(pull_ratio(z, torch.tensor([0, 1, 0, 1])))
    1.5
    """
    n = z.shape[0]
    off = ~torch.eye(n, dtype=torch.bool, device=z.device)
    same = (group.unsqueeze(0) == group.unsqueeze(1)) & (group >= 0).unsqueeze(0) & off
    if n < 2 or not bool(same.any()):
        return z.new_zeros(())
    d2 = _sq_distances(z)
    return d2[same].mean() / d2[off].mean().clamp_min(eps)
