"""Pure torch modules of the variational auto-encoder (no scikit-learn here).

They are kept small and reusable: the encoder can take side features next to its spectral
input (e.g. sound-level descriptors), and the decoder always outputs spectral frames, so
decoding stays the same whatever conditions the encoder.

Pitch mode (``pitch_bins > 0``): on a log-frequency axis with a fixed number of bins per
semitone, a note at MIDI ``p`` is moved by ``pitch_bins * (pitch_ref - p)`` bins into a wider,
pitch-normalized frame (its harmonics then sit at the same place whatever the pitch). The
encoder and decoder work in that frame, both with the scaled pitch as an extra input, and
the decoder's frame is shifted back to the real bins. A dense network cannot move harmonics
along the frequency axis; the shift does it exactly, so one timbre decodes at any pitch.
"""

import torch
from torch import nn

__all__ = ["MLP", "Encoder", "Decoder", "VAEModule", "shift_bins"]

# the pitch input of encoder and decoder, (p - pitch_center) / _PITCH_UNIT: octaves
_PITCH_UNIT = 12.0


def shift_bins(x, offset, width):
    """Read ``x`` at fractional bin positions: ``out[..., j] = x[..., j + offset]``.

    Linear interpolation between neighbouring bins; positions outside ``x`` take its edge
    values (clamped), so a shifted frame never invents energy beyond the analysed range.

    Parameters
    ----------
    x : Tensor of shape (..., n_bins)
    offset : Tensor broadcastable to ``x.shape[:-1]``
        Shift in bins, per row.
    width : int
        Number of output bins.

    Returns
    -------
    Tensor of shape (..., width)

    Examples
    --------
    >>> import torch
    >>> from perceptual_timbre.model._modules import shift_bins
    >>> shift_bins(torch.tensor([[0.0, 1.0, 2.0]]), torch.tensor([0.5]), 3)
    tensor([[0.5000, 1.5000, 2.0000]])
    """
    n_in = x.shape[-1]
    lead = x.shape[:-1]
    offset = torch.as_tensor(offset, dtype=x.dtype, device=x.device).expand(lead)
    pos = torch.arange(width, dtype=x.dtype, device=x.device) + offset.unsqueeze(-1)
    pos = pos.clamp(0, n_in - 1)
    i0 = pos.detach().floor().long().clamp(max=max(n_in - 2, 0))
    i1 = (i0 + 1).clamp(max=n_in - 1)
    w = pos - i0.to(x.dtype)
    x0, x1 = torch.gather(x, -1, i0), torch.gather(x, -1, i1)
    return x0 + w * (x1 - x0)


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

    def __init__(self, latent_dim, hidden_layer_sizes, n_features, cond_dim=0):
        super().__init__()
        self.net = MLP(latent_dim + cond_dim, hidden_layer_sizes, n_features)
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
    pitch_bins : float, default=0.0
        Pitch mode when > 0: bins per semitone of the (log-frequency) frames.
    frame_width : int, default=None
        Width of the pitch-normalized frame (pitch mode), at least ``n_features``.
    pitch_ref : float, default=0.0
        MIDI pitch whose notes are not shifted (pitch mode; the highest training pitch, so
        every training note lands inside the normalized frame).
    pitch_center : float, default=0.0
        Pitch input of the networks: ``(p - pitch_center) / 12``.

    Examples
    --------
    >>> import torch
    >>> from perceptual_timbre.model._modules import VAEModule
    >>> m = VAEModule(n_features=10, latent_dim=2, hidden_layer_sizes=(8,))
    >>> out = m(torch.zeros(4, 10))
    >>> out["x_mean"].shape, out["z"].shape
    (torch.Size([4, 10]), torch.Size([4, 2]))
    """

    def __init__(self, n_features, latent_dim, hidden_layer_sizes, side_dim=0, dropout=0.0,
                 pitch_bins=0.0, frame_width=None, pitch_ref=0.0, pitch_center=0.0):
        super().__init__()
        hidden = tuple(int(h) for h in hidden_layer_sizes)
        self.n_features = int(n_features)
        self.latent_dim = int(latent_dim)
        self.pitch_bins = float(pitch_bins)
        self.pitch_ref = float(pitch_ref)
        self.pitch_center = float(pitch_center)
        self.frame_width = int(frame_width) if self.pitched else self.n_features
        if self.frame_width < self.n_features:
            raise ValueError(f"frame_width={frame_width} is below n_features={n_features}.")
        cond = int(self.pitched)  # the scaled pitch enters both networks
        self.encoder = Encoder(self.frame_width, hidden, latent_dim, side_dim=side_dim + cond,
                               dropout=dropout)
        self.decoder = Decoder(latent_dim, hidden[::-1], self.frame_width, cond_dim=cond)

    @property
    def pitched(self):
        """Whether this is a pitch-mode module."""
        return self.pitch_bins > 0

    @property
    def code_dim(self):
        """Width of a latent point as ``transform`` returns it: timbre (+ pitch)."""
        return self.latent_dim + int(self.pitched)

    def _pitch_input(self, pitch):
        return ((pitch - self.pitch_center) / _PITCH_UNIT).unsqueeze(-1)

    def _offset(self, pitch):
        """Bins a note of ``pitch`` is moved up by in the normalized frame."""
        return self.pitch_bins * (self.pitch_ref - pitch)

    def _check_pitch(self, pitch, x):
        if pitch is None:
            raise ValueError("this pitch-mode module needs the pitch of every row.")
        return torch.as_tensor(pitch, dtype=x.dtype, device=x.device)

    def encode(self, x, side=None, pitch=None):
        """Posterior mean and log-variance of the timbre coordinates (pitch excluded)."""
        if not self.pitched:
            return self.encoder(x, side)
        pitch = self._check_pitch(pitch, x)
        wide = shift_bins(x, -self._offset(pitch), self.frame_width)
        p_in = self._pitch_input(pitch)
        return self.encoder(wide, p_in if side is None else torch.cat([side, p_in], -1))

    def decode(self, z, pitch=None):
        """Spectral frames from timbre coordinates ``z`` at ``pitch``.

        In pitch mode ``pitch=None`` reads the pitch from the last column of ``z`` (the
        layout ``transform`` returns).
        """
        if not self.pitched:
            return self.decoder(z)
        if pitch is None:
            z, pitch = z[..., :-1], z[..., -1]
        pitch = self._check_pitch(pitch, z).expand(z.shape[:-1])
        wide = self.decoder(torch.cat([z, self._pitch_input(pitch)], -1))
        return shift_bins(wide, self._offset(pitch), self.n_features)

    def log_scale(self, pitch=None):
        """Decoder log standard deviation per real bin (per row in pitch mode)."""
        scale = self.decoder.scale()
        if not self.pitched:
            return scale
        pitch = self._check_pitch(pitch, scale)
        return shift_bins(scale.expand(*pitch.shape, -1), self._offset(pitch), self.n_features)

    def forward(self, x, side=None, generator=None, sample=True, pitch=None):
        """Encode, draw ``z`` (``generator`` makes the noise reproducible) and decode.

        Returns a dict with ``mu``, ``logvar``, ``z``, ``x_mean`` and ``log_scale``.
        """
        mu, logvar = self.encode(x, side, pitch)
        if sample:
            eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
            z = mu + eps * torch.exp(0.5 * logvar)
        else:
            z = mu
        return {
            "mu": mu,
            "logvar": logvar,
            "z": z,
            "x_mean": self.decode(z, pitch) if self.pitched else self.decode(z),
            "log_scale": self.log_scale(pitch),
        }
