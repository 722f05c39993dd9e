"""Pure torch modules of the variational auto-encoder (no scikit-learn here).

They are kept small and reusable: the encoder can take side features next to its spectral
input (e.g. sound-level descriptors), and the decoder always outputs spectral frames, so
decoding stays the same whatever conditions the encoder.
"""

import torch
from torch import nn

__all__ = ["MLP", "Encoder", "Decoder", "VAEModule"]


class MLP(nn.Sequential):
    """Fully connected ReLU network ``in -> hidden... -> out`` (no activation on the output).

    ``dropout`` > 0 adds dropout after every hidden activation (active in train mode only).
    """

    def __init__(self, in_features, hidden_layer_sizes, out_features, dropout=0.0):
        layers = []
        for width in hidden_layer_sizes:
            layers += [nn.Linear(in_features, int(width)), nn.ReLU()]
            if dropout > 0:
                layers.append(nn.Dropout(float(dropout)))
            in_features = int(width)
        layers.append(nn.Linear(in_features, out_features))
        super().__init__(*layers)


class Encoder(nn.Module):
    """Amortized posterior ``q(z | x, s) = N(mu, diag(exp(logvar)))``.

    Parameters
    ----------
    n_features : int
        Size of a spectral frame.
    hidden_layer_sizes : sequence of int
    latent_dim : int
    side_dim : int, default=0
        Size of optional side features concatenated to the input.
    dropout : float, default=0.0
        Dropout rate after each hidden layer (training only).
    """

    def __init__(self, n_features, hidden_layer_sizes, latent_dim, side_dim=0, dropout=0.0):
        super().__init__()
        self.side_dim = int(side_dim)
        self.net = MLP(n_features + self.side_dim, hidden_layer_sizes, 2 * latent_dim,
                       dropout=dropout)

    def forward(self, x, side=None):
        if self.side_dim:
            if side is None:
                raise ValueError(f"this encoder needs {self.side_dim} side features.")
            x = torch.cat([x, side], dim=-1)
        mu, logvar = self.net(x).chunk(2, dim=-1)
        # bounded log-variance: keeps exp() finite early in training
        return mu, logvar.clamp(-12.0, 8.0)


class Decoder(nn.Module):
    """Gaussian likelihood ``p(x | z) = N(mean(z), diag(exp(2 log_scale)))``.

    The scale is one learned value per feature (homoscedastic), which keeps the
    log-likelihood well defined without the instability of a per-row variance head.
    """

    def __init__(self, latent_dim, hidden_layer_sizes, n_features):
        super().__init__()
        self.net = MLP(latent_dim, hidden_layer_sizes, n_features)
        self.log_scale = nn.Parameter(torch.zeros(n_features))

    def forward(self, z):
        return self.net(z)

    def scale(self):
        """Log standard deviation per feature, bounded below to avoid a degenerate likelihood."""
        return self.log_scale.clamp(min=-7.0)


class VAEModule(nn.Module):
    """Encoder + decoder with the reparameterization trick.

    Parameters
    ----------
    n_features : int
    latent_dim : int
    hidden_layer_sizes : sequence of int
        Encoder widths; the decoder mirrors them.
    side_dim : int, default=0
    dropout : float, default=0.0
        Dropout rate after each hidden layer of the encoder (training only); the decoder
        has none, so decoding stays deterministic and sharp.

    Examples
    --------
    >>> import torch
    >>> from perceptual_timbre.model._modules import VAEModule
    >>> m = VAEModule(n_features=10, latent_dim=2, hidden_layer_sizes=(8,))
    >>> out = m(torch.zeros(4, 10))
    >>> out["x_mean"].shape, out["z"].shape
    (torch.Size([4, 10]), torch.Size([4, 2]))
    """

    def __init__(self, n_features, latent_dim, hidden_layer_sizes, side_dim=0, dropout=0.0):
        super().__init__()
        hidden = tuple(int(h) for h in hidden_layer_sizes)
        self.n_features = int(n_features)
        self.latent_dim = int(latent_dim)
        self.encoder = Encoder(n_features, hidden, latent_dim, side_dim=side_dim,
                               dropout=dropout)
        self.decoder = Decoder(latent_dim, hidden[::-1], n_features)

    def encode(self, x, side=None):
        return self.encoder(x, side)

    def decode(self, z):
        return self.decoder(z)

    def forward(self, x, side=None, generator=None, sample=True):
        """Encode, draw ``z`` (``generator`` makes the noise reproducible) and decode.

        Returns a dict with ``mu``, ``logvar``, ``z``, ``x_mean`` and ``log_scale``.
        """
        mu, logvar = self.encode(x, side)
        if sample:
            eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
            z = mu + eps * torch.exp(0.5 * logvar)
        else:
            z = mu
        return {
            "mu": mu,
            "logvar": logvar,
            "z": z,
            "x_mean": self.decode(z),
            "log_scale": self.decoder.scale(),
        }
