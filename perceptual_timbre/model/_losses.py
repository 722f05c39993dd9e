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


def _off_diagonal(n, device):
    return ~torch.eye(n, dtype=torch.bool, device=device)


def tsne_regularizer(z, target, *, sigma=1.0):
    """The paper's t-SNE-inspired perceptual regularizer (Esling et al. 2018, Eq. 8-10).

    A Gaussian kernel turns the latent distances into a distribution ``Q`` over pairs,
    a Student-t kernel turns the target distances into ``P``, and the loss is
    ``KL(P || Q) = sum_{i != j} p_ij log(p_ij / q_ij)``::

        q_ij ∝ exp(-||z_i - z_j||^2 / (2 sigma^2)),   p_ij ∝ (1 + T_ij^2)^-1

    Parameters
    ----------
    z : Tensor of shape (n, d)
        Latent points (n >= 2).
    target : Tensor of shape (n, n)
        Target distance between the classes of rows i and j (0 within a class).
    sigma : float, default=1.0
        Bandwidth of the latent Gaussian kernel.

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
    n = z.shape[0]
    mask = _off_diagonal(n, z.device)
    d2 = torch.cdist(z, z).pow(2)[mask]
    log_q = -d2 / (2.0 * sigma**2)
    log_q = log_q - torch.logsumexp(log_q, dim=0)
    log_p = -torch.log1p(target[mask].to(z.dtype).pow(2))
    log_p = log_p - torch.logsumexp(log_p, dim=0)
    return torch.sum(log_p.exp() * (log_p - log_q))


def l2_regularizer(z, target, *, eps=1e-8):
    """Mean squared difference between latent and target distances, each scaled by its mean.

    Dividing both matrices by their batch mean makes the term invariant to the overall
    scale of the ratings and of the latent space; only relative distances are matched.

    Parameters
    ----------
    z : Tensor of shape (n, d)
    target : Tensor of shape (n, n)

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
    n = z.shape[0]
    mask = _off_diagonal(n, z.device)
    diff = z.unsqueeze(0) - z.unsqueeze(1)
    dz = torch.sqrt(diff.pow(2).sum(-1)[mask] + eps)  # eps: finite gradient at zero distance
    dt = target[mask].to(z.dtype)
    dz = dz / dz.mean().clamp_min(eps)
    dt = dt / dt.mean().clamp_min(eps)
    return torch.mean((dz - dt).pow(2))


def prior_regularizer(mu, logvar, centres):
    """Mean KL between each row's posterior and a unit Gaussian at its class centre.

    ``centres`` (n, d) are e.g. MDS positions of the rated classes; added to the usual
    ``KL(q || N(0, I))`` this acts as a class-conditional prior.
    """
    return kl_normal(mu, logvar, prior_mu=centres).mean()
