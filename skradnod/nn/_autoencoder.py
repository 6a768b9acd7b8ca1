"""Convolutional autoencoder: a latent representation of CT slices.

The method (step 9) trains an autoencoder on full slices to learn a compact
representation before classification, and inspects its latent space with t-SNE.
"""

from torch import nn

__all__ = ["ConvAutoencoder"]


def _down(in_ch, out_ch):
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, 3, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(out_ch),
        nn.ReLU(inplace=True),
    )


def _up(in_ch, out_ch):
    return nn.Sequential(
        nn.ConvTranspose2d(in_ch, out_ch, 4, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(out_ch),
        nn.ReLU(inplace=True),
    )


class ConvAutoencoder(nn.Module):
    """Strided-convolution encoder, dense latent code, transposed-conv decoder.

    Parameters
    ----------
    input_size : tuple of int, default=(64, 64)
        ``(H, W)`` of the images; the dense layers around the latent code depend
        on it. Both sides must be at least ``2 ** len(channels)``.
    latent_dim : int, default=32
        Length of the latent vector.
    channels : tuple of int, default=(16, 32, 64)
        Output channels of the encoder's stride-2 stages (mirrored by the
        decoder).
    in_channels : int, default=1
        Image channels.
    output_activation : {"sigmoid", None}, default="sigmoid"
        Sigmoid suits images scaled to ``[0, 1]`` (after ``HUWindow``); None gives
        an unbounded linear output.

    Examples
    --------
    >>> import torch
    >>> from skradnod.nn import ConvAutoencoder
    >>> ae = ConvAutoencoder(input_size=(40, 48), latent_dim=8)
    >>> x = torch.rand(2, 1, 40, 48)
    >>> ae.encode(x).shape, ae(x).shape
    (torch.Size([2, 8]), torch.Size([2, 1, 40, 48]))
    """

    def __init__(
        self,
        input_size=(64, 64),
        latent_dim=32,
        channels=(16, 32, 64),
        in_channels=1,
        output_activation="sigmoid",
    ):
        super().__init__()
        height, width = (int(s) for s in input_size)
        factor = 2 ** len(channels)
        if min(height, width) < factor:
            raise ValueError(
                f"ConvAutoencoder: input_size {input_size} is too small for "
                f"{len(channels)} stride-2 stages (each side must be >= {factor})."
            )
        if output_activation not in ("sigmoid", None):
            raise ValueError(
                "output_activation must be 'sigmoid' or None; got "
                f"{output_activation!r}."
            )
        self.input_size = (height, width)
        self.in_channels = in_channels
        # Ceil division: each stride-2 conv with padding 1 rounds up.
        self.code_shape = (
            channels[-1], -(-height // factor), -(-width // factor)
        )
        stages, prev = [], in_channels
        for ch in channels:
            stages.append(_down(prev, ch))
            prev = ch
        self.encoder = nn.Sequential(*stages)
        code_size = channels[-1] * self.code_shape[1] * self.code_shape[2]
        self.to_latent = nn.Linear(code_size, latent_dim)
        self.from_latent = nn.Sequential(
            nn.Linear(latent_dim, code_size), nn.ReLU(inplace=True)
        )
        rev = list(channels[::-1]) + [channels[0]]
        self.decoder = nn.Sequential(
            *(_up(rev[i], rev[i + 1]) for i in range(len(channels)))
        )
        self.out = nn.Conv2d(channels[0], in_channels, 3, padding=1)
        self.output_activation = output_activation

    def _prepare(self, x):
        if x.ndim == 3:
            x = x.unsqueeze(1)
        if tuple(x.shape[-2:]) != self.input_size:
            raise ValueError(
                f"ConvAutoencoder was built for {self.input_size} images; got "
                f"{tuple(x.shape[-2:])}. Resize the images (skradnod.preprocessing"
                ".Resize) or rebuild with input_size set."
            )
        return x

    def encode(self, x):
        """Latent vectors ``(n, latent_dim)`` of images ``(n, [C,] H, W)``."""
        return self.to_latent(self.encoder(self._prepare(x)).flatten(1))

    def decode(self, z):
        """Images ``(n, C, H, W)`` reconstructed from latent vectors."""
        x = self.from_latent(z).view(-1, *self.code_shape)
        x = self.out(self.decoder(x))
        # Sides that are not multiples of 2**stages come out slightly larger.
        x = x[..., : self.input_size[0], : self.input_size[1]]
        return x.sigmoid() if self.output_activation == "sigmoid" else x

    def forward(self, x):
        return self.decode(self.encode(x))

