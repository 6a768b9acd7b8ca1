"""The torch device a fit runs on."""

__all__ = ["resolve_device"]


def resolve_device(device):
    """Return the torch device string for ``device``; ``"auto"`` picks one.

    Parameters
    ----------
    device : str or torch.device
        ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"``,
        ``"cuda:N"``, ``"mps"`` or any other device torch knows.

    Returns
    -------
    device : str

    Raises
    ------
    ValueError
        For a device torch does not know, or CUDA asked for where torch sees no
        GPU.

    Examples
    --------
    >>> from skradnod.utils import resolve_device
    >>> resolve_device("cpu")
    'cpu'
    """
    import torch

    device = str(device)
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        kind = torch.device(device).type
    except (RuntimeError, ValueError):
        raise ValueError(
            f"Unknown device {device!r}; use 'auto', 'cpu', 'cuda' or 'cuda:N'."
        ) from None
    if kind == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} was asked for, but torch sees no CUDA GPU "
            "here; use device='cpu' or 'auto'."
        )
    return device
