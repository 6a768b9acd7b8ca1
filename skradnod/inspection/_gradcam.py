"""Grad-CAM heat maps of skradnod's image nets, computed with captum.

Grad-CAM (Selvaraju et al., 2017) weighs each channel of a convolutional
feature map by the mean gradient of the class score over that channel, sums
the channels and keeps the positive part: where in the image the features that
raise the class score lie. captum's :class:`~captum.attr.LayerGradCam` computes
it and :meth:`~captum.attr.LayerAttribution.interpolate` brings it to the
image's size; nothing of the method is written by hand here.

Why captum and not the ``grad-cam`` package (pytorch-grad-cam): ``grad-cam``
requires ``opencv-python``, which installs a second ``cv2`` over the
``opencv-python-headless`` skradnod depends on (the two packages clash in one
environment); captum needs only torch, numpy and matplotlib.
"""

import numpy as np
import torch
from captum.attr import LayerAttribution, LayerGradCam
from sklearn.utils import Bunch, _safe_indexing
from skorch.utils import to_tensor

from ..evaluation._plotting import _new_axes, _title
from ._nets import check_has_conv, default_layer, get_layer, image_input, resolve_net

__all__ = ["GradCAMDisplay", "grad_cam"]


def _forward(module, key, other_keys):
    """``forward(image, *others) -> logits`` of ``module``, as skorch calls it."""

    def forward(image, *others):
        if key is None:
            out = module(image)
        else:
            out = module(**{key: image, **dict(zip(other_keys, others))})
        # skorch's convention (NeuralNet.predict_proba): with several outputs
        # (the centre-regression net's logits and centres) the first is the
        # prediction.
        return out[0] if isinstance(out, tuple) else out

    return forward


def _split_batch(batch, key, device):
    """``(image, others, other_keys)`` tensors of one collated batch."""
    batch = to_tensor(batch, device=device)
    if key is None:
        return batch, (), ()
    other_keys = tuple(name for name in batch if name != key)
    return batch[key], tuple(batch[name] for name in other_keys), other_keys


def _target_codes(target, net, proba, caller):
    """Column of ``classes_`` explained for each sample."""
    if isinstance(target, str) and target == "predicted":
        return proba.argmax(axis=1)
    classes = np.asarray(net.classes_)
    matches = np.flatnonzero(classes == target) if np.ndim(target) == 0 else []
    if len(matches) != 1:
        raise ValueError(
            f"{caller}: target must be 'predicted' or one of the net's classes "
            f"{classes.tolist()}; got {target!r}."
        )
    return np.full(len(proba), matches[0])


def _normalise(maps):
    """Each map divided by its own maximum (all-zero maps stay zero)."""
    peak = maps.reshape(len(maps), -1).max(axis=1)
    scale = np.where(peak > 0, peak, 1.0)
    return (maps / scale[:, None, None]).astype(np.float32)


def _batch_cam(net, module, layer, batch, key, target, caller):
    """Heat maps, images, probabilities and explained codes of one batch."""
    device = next(module.parameters()).device
    image, others, other_keys = _split_batch(batch, key, device)
    forward = _forward(module, key, other_keys)
    with torch.no_grad():
        proba = net._get_predict_nonlinearity()(forward(image, *others))
    proba = proba.float().cpu().numpy()
    codes = _target_codes(target, net, proba, caller)
    cam = LayerGradCam(forward, layer)
    with torch.enable_grad():
        attr = cam.attribute(
            image,
            target=torch.as_tensor(codes, device=device),
            additional_forward_args=others or None,
            relu_attributions=True,
        )
    attr = LayerAttribution.interpolate(
        attr.detach(), tuple(image.shape[-2:]), interpolate_mode="bilinear"
    )
    maps = attr[:, 0].float().cpu().numpy()
    return maps, image[:, 0].float().cpu().numpy(), proba, codes


def grad_cam(estimator, X, *, layer=None, target="predicted"):
    """Grad-CAM heat maps of a fitted image net for every sample of ``X``.

    The preceding steps of a pipeline transform ``X`` first, so each heat map
    lies over the image the net read (e.g. the preprocessed, resized crop).

    Parameters
    ----------
    estimator : estimator
        A fitted :class:`~skradnod.models.NoduleCNNClassifier`,
        :class:`~skradnod.compose.FusionClassifier` (its image branch),
        :class:`~skradnod.models.TransferClassifier`,
        :class:`~skradnod.models.CenterRegressionClassifier`, a pipeline ending
        in one, or a :class:`~skradnod.models.LocatedNoduleClassifier` (its
        classifier, on the crops it cuts).
    X : image batch or DataFrame
        Input of ``estimator.predict``.
    layer : str, torch.nn.Module or None, default=None
        The layer whose output Grad-CAM reads: a name in the net's
        ``module_.named_modules()`` or the submodule itself. None: the last
        module to finish whose output is a feature map larger than 1x1 and
        which neither is nor contains a pooling layer, i.e. the last
        convolutional stage before the pooling that leads to the head.
    target : "predicted" or label, default="predicted"
        The class explained: each sample's predicted class, or one of
        ``classes_`` for all samples.

    Returns
    -------
    result : Bunch
        ``heatmaps`` (n, H, W) float32 in [0, 1], each scaled by its own
        maximum (all zero where no location raises the class score);
        ``images`` (n, H, W), the images the net read; ``proba``
        (n, n_classes), its predicted probabilities (as ``predict_proba``);
        ``predicted`` (n,), the predicted labels; ``target`` (n,), the
        labels explained; ``classes`` and ``layer`` (the layer's name).

    Raises
    ------
    ValueError
        If ``estimator`` holds no fitted skradnod net, the net has no
        convolutional layer, ``layer`` or ``target`` is not one of the net's,
        or ``X`` is outside the net's input contract (size, value range).

    See Also
    --------
    GradCAMDisplay : One sample's heat map over its image.

    Examples
    --------
    >>> import numpy as np
    >>> from skradnod.inspection import grad_cam
    >>> from skradnod.models import NoduleCNNClassifier
    >>> X = np.random.RandomState(0).rand(8, 16, 16).astype(np.float32)
    >>> clf = NoduleCNNClassifier(module__width=4, max_epochs=1, valid_size=None,
    ...                           random_state=0).fit(X, [0, 1] * 4)
    >>> cam = grad_cam(clf, X[:2])
    >>> cam.heatmaps.shape, cam.layer
    ((2, 16, 16), 'features.10')
    """
    caller = "grad_cam"
    net, X_net = resolve_net(estimator, X, caller)
    module = net.module_
    check_has_conv(module, caller)
    iterator = net.get_iterator(net.get_dataset(X_net), training=False)
    parts, name = [], None
    was_training = module.training
    module.eval()
    try:
        with net._torch_threads():
            for batch, _ in iterator:
                key = image_input(batch, caller)
                if name is None:
                    name, chosen = _layer(module, layer, batch, key, caller)
                parts.append(_batch_cam(net, module, chosen, batch, key, target,
                                        caller))
    finally:
        module.train(was_training)
    if not parts:
        raise ValueError(f"{caller}: X holds no samples.")
    maps, images, proba, codes = (np.concatenate(p) for p in zip(*parts))
    classes = np.asarray(net.classes_)
    return Bunch(
        heatmaps=_normalise(maps),
        images=images,
        proba=proba,
        predicted=classes[proba.argmax(axis=1)],
        target=classes[codes],
        classes=classes,
        layer=name,
    )


def _layer(module, layer, batch, key, caller):
    """``(name, submodule)`` Grad-CAM reads: ``layer``, or the default rule's."""
    if layer is None:
        device = next(module.parameters()).device
        image, others, other_keys = _split_batch(batch, key, device)
        layer = default_layer(
            module, _forward(module, key, other_keys), (image[:1],
                                                        *(o[:1] for o in others)),
            caller,
        )
    return get_layer(module, layer, caller)


class GradCAMDisplay:
    """Grad-CAM heat map over the image a net read, with its prediction.

    Build it with :meth:`from_estimator` (a fitted image net and one sample),
    or from a heat map already computed (:func:`grad_cam`) with the
    constructor and :meth:`plot`. All parameters are stored as attributes.

    Parameters
    ----------
    heatmap : ndarray of shape (H, W)
        Heat map in [0, 1], the size of ``image``.
    image : ndarray of shape (H, W)
        The image the net read (after the pipeline's preprocessing).
    predicted : label, default=None
        Predicted class, shown in the title.
    proba : float, default=None
        Probability of the predicted class, shown in the title.
    target : label, default=None
        The class explained when it is not the predicted one.
    layer : str, default=None
        Name of the layer the heat map comes from, shown in the title.

    Attributes
    ----------
    image_ : matplotlib AxesImage
        The image.
    overlay_ : matplotlib AxesImage
        The heat map over it.
    ax_ : matplotlib Axes
        Axes with the picture.
    figure_ : matplotlib Figure
        Figure containing it.

    See Also
    --------
    grad_cam : Heat maps of a whole batch.
    FeatureImportanceDisplay : What drives a radiomic model.

    Examples
    --------
    >>> import numpy as np
    >>> from skradnod.inspection import GradCAMDisplay
    >>> heatmap = np.zeros((16, 16)); heatmap[4:8, 10:14] = 1.0
    >>> disp = GradCAMDisplay(heatmap, np.random.rand(16, 16), predicted=5,
    ...                       proba=0.91).plot()
    >>> disp.ax_.get_title()
    'predicted 5 (p=0.91)'
    >>> type(disp.figure_).__module__
    'matplotlib.figure'
    """

    def __init__(
        self, heatmap, image, *, predicted=None, proba=None, target=None, layer=None
    ):
        self.heatmap = heatmap
        self.image = image
        self.predicted = predicted
        self.proba = proba
        self.target = target
        self.layer = layer

    def plot(self, *, ax=None, cmap="jet", alpha=0.45, title=None):
        """Draw the image in grey and the heat map over it.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; default the axes of a new
            :class:`matplotlib.figure.Figure` (not registered with pyplot).
        cmap : str or matplotlib Colormap, default="jet"
            Colour map of the heat map.
        alpha : float, default=0.45
            Opacity of the heat map.
        title : str, default=None
            Default: the predicted class and its probability (and the class
            explained and the layer, when given).

        Returns
        -------
        display : GradCAMDisplay
            ``self``, with ``ax_``, ``figure_``, ``image_`` and ``overlay_``.

        Raises
        ------
        ValueError
            If ``heatmap`` and ``image`` are not 2D arrays of one shape.
        """
        heatmap = np.asarray(self.heatmap, dtype=float)
        image = np.asarray(self.image, dtype=float)
        if heatmap.ndim != 2 or heatmap.shape != image.shape:
            raise ValueError(
                "GradCAMDisplay: heatmap and image must be 2D arrays of one shape; "
                f"got {heatmap.shape} and {image.shape}."
            )
        self.figure_, self.ax_ = _new_axes(ax, (3.6, 3.8))
        self.image_ = self.ax_.imshow(image, cmap="gray", interpolation="nearest")
        self.overlay_ = self.ax_.imshow(
            heatmap, cmap=cmap, alpha=alpha, vmin=0.0, vmax=1.0,
            interpolation="bilinear",
        )
        self.ax_.set_axis_off()
        self.ax_.set_title(_title(title, *self._title_lines()), fontsize=9)
        return self

    def _title_lines(self):
        line = ""
        if self.predicted is not None:
            line = f"predicted {self.predicted}"
            if self.proba is not None:
                line += f" (p={float(self.proba):.2f})"
        explained = ""
        if self.target is not None and self.target != self.predicted:
            explained = f"Grad-CAM of class {self.target}"
        layer = "" if self.layer is None else f"layer {self.layer}"
        return line, "; ".join(part for part in (explained, layer) if part)

    @classmethod
    def from_estimator(
        cls, estimator, X, *, index=0, layer=None, target="predicted", ax=None,
        cmap="jet", alpha=0.45, title=None,
    ):
        """Compute one sample's Grad-CAM with a fitted net and plot it.

        Parameters
        ----------
        estimator : estimator
            A fitted skradnod image net, a pipeline ending in one, or a
            :class:`~skradnod.models.LocatedNoduleClassifier` (see
            :func:`grad_cam`).
        X : image batch or DataFrame
            Input of ``estimator.predict``; only the sample at ``index`` is
            read (and transformed by the pipeline's earlier steps).
        index : int, default=0
            Position of the sample in ``X``.
        layer : str, torch.nn.Module or None, default=None
            The layer Grad-CAM reads (see :func:`grad_cam`); default the last
            convolutional stage before the head's pooling.
        target : "predicted" or label, default="predicted"
            The class explained.
        ax : matplotlib Axes, default=None
        cmap : str or matplotlib Colormap, default="jet"
        alpha : float, default=0.45
        title : str, default=None

        Returns
        -------
        display : GradCAMDisplay

        Raises
        ------
        ValueError
            If ``index`` is not a position of ``X``, and as :func:`grad_cam`.
        """
        n = _n_samples(X)
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or (
            not -n <= index < n
        ):
            raise ValueError(
                f"GradCAMDisplay.from_estimator: index must be an integer position "
                f"in X, which holds {n} samples; got {index!r}."
            )
        cam = grad_cam(
            estimator, _safe_indexing(X, [int(index)]), layer=layer, target=target
        )
        predicted = cam.predicted[0]
        column = np.flatnonzero(cam.classes == predicted)[0]
        display = cls(
            cam.heatmaps[0],
            cam.images[0],
            predicted=_plain(predicted),
            proba=float(cam.proba[0, column]),
            target=_plain(cam.target[0]),
            layer=cam.layer,
        )
        return display.plot(ax=ax, cmap=cmap, alpha=alpha, title=title)


def _plain(label):
    """A numpy scalar label as the Python value (for titles and CSV files)."""
    return label.item() if isinstance(label, np.generic) else label


def _n_samples(X):
    return X.shape[0] if hasattr(X, "shape") else len(X)
