"""t-SNE map of latent vectors, coloured by class."""

import matplotlib
import numpy as np
from sklearn.manifold import TSNE
from sklearn.utils import check_array, check_consistent_length, column_or_1d

from ._plotting import _display_names, _new_axes, _title


class LatentTSNEDisplay:
    """Latent vectors embedded in 2D with t-SNE, one colour per class.

    Shows whether an embedding (e.g. the latent space of
    :class:`~skradnod.models.AutoencoderEmbedding`) separates the classes. Build
    it with :meth:`from_embedding` (vectors already computed) or
    :meth:`from_estimator` (a fitted transformer's ``transform``); all
    parameters are stored as attributes. There is no ``from_report``: a
    :class:`Report` holds predictions, not latent vectors.

    Parameters
    ----------
    embedding : ndarray of shape (n_samples, 2)
        The t-SNE coordinates.
    y : ndarray of shape (n_samples,)
        Class of each sample.
    display_labels : list or dict, default=None
        Names of the sorted classes of ``y``, as a list in their order or a dict
        from label to name; default the labels as text.
    n_latent : int, default=None
        Dimension of the embedded vectors, shown in the title.

    Attributes
    ----------
    scatters_ : list of matplotlib PathCollection
        One scatter per class, in the order of the sorted classes.
    ax_ : matplotlib Axes
        Axes with the map.
    figure_ : matplotlib Figure
        Figure containing the map.

    See Also
    --------
    plot_latent_tsne : :meth:`from_embedding`, saved as PNG.

    Examples
    --------
    >>> import numpy as np
    >>> from skradnod.evaluation import LatentTSNEDisplay
    >>> rng = np.random.RandomState(0)
    >>> Z = np.vstack([rng.normal(0, 1, (10, 4)), rng.normal(6, 1, (10, 4))])
    >>> disp = LatentTSNEDisplay.from_embedding(
    ...     Z, [1] * 10 + [5] * 10, display_labels={1: "benign", 5: "malignant"})
    >>> disp.embedding.shape
    (20, 2)
    >>> [t.get_text() for t in disp.ax_.get_legend().get_texts()]
    ['benign (n=10)', 'malignant (n=10)']
    """

    def __init__(self, embedding, y, *, display_labels=None, n_latent=None):
        self.embedding = embedding
        self.y = y
        self.display_labels = display_labels
        self.n_latent = n_latent

    def plot(self, *, ax=None, title=None):
        """Draw the map.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; default the axes of a new
            :class:`matplotlib.figure.Figure` (not registered with pyplot).
        title : str, default=None
            Default: "t-SNE of the latent space" and its dimension.

        Returns
        -------
        display : LatentTSNEDisplay
            ``self``, with ``ax_``, ``figure_`` and ``scatters_`` set.
        """
        embedding = np.asarray(self.embedding)
        y = np.asarray(self.y)
        classes = np.unique(y)
        names = _display_names(classes, self.display_labels, "LatentTSNEDisplay")
        self.figure_, self.ax_ = _new_axes(ax, (5.0, 4.5))
        colours = matplotlib.colormaps["viridis"](np.linspace(0, 0.95, len(classes)))
        self.scatters_ = []
        for cls, name, colour in zip(classes, names, colours):
            mask = y == cls
            self.scatters_.append(
                self.ax_.scatter(
                    embedding[mask, 0],
                    embedding[mask, 1],
                    s=12,
                    color=colour,
                    label=f"{name} (n={int(mask.sum())})",
                    alpha=0.8,
                )
            )
        self.ax_.set_xlabel("t-SNE 1")
        self.ax_.set_ylabel("t-SNE 2")
        self.ax_.legend(title="class", fontsize=8)
        dims = "" if self.n_latent is None else f" ({self.n_latent} dimensions)"
        self.ax_.set_title(
            _title(title, f"t-SNE of the latent space{dims}"), fontsize=9
        )
        return self

    @classmethod
    def from_embedding(
        cls,
        Z,
        y,
        *,
        display_labels=None,
        perplexity=30.0,
        method="auto",
        random_state=0,
        ax=None,
        title=None,
    ):
        """Embed latent vectors with t-SNE and plot them by class.

        Parameters
        ----------
        Z : array-like of shape (n_samples, n_features)
            Latent vectors (more dimensions are flattened).
        y : array-like of shape (n_samples,)
            Class of each sample.
        display_labels : list or dict, default=None
            Names of the sorted classes.
        perplexity : float, default=30.0
            t-SNE perplexity; lowered to ``n_samples - 1`` for small sets.
        method : {"auto", "exact", "barnes_hut"}, default="auto"
            t-SNE gradient method. ``"auto"``: exact up to 1,000 samples (quick
            there, and single-threaded, so it never stalls on a busy machine the
            way OpenMP-parallel Barnes-Hut can), Barnes-Hut above.
        random_state : int, default=0
            Seed of t-SNE.
        ax : matplotlib Axes, default=None
        title : str, default=None

        Returns
        -------
        display : LatentTSNEDisplay

        Raises
        ------
        ValueError
            If ``Z`` and ``y`` differ in length or hold fewer than 3 samples.
        """
        caller = "LatentTSNEDisplay.from_embedding"
        Z = np.asarray(Z, dtype=float)
        Z = check_array(Z.reshape(len(Z), -1), input_name="Z")
        y = column_or_1d(y)
        check_consistent_length(Z, y)
        if len(Z) < 3:
            raise ValueError(f"{caller} needs at least 3 samples; got {len(Z)}.")
        if method == "auto":
            method = "exact" if len(Z) <= 1000 else "barnes_hut"
        tsne = TSNE(
            n_components=2,
            perplexity=min(perplexity, len(Z) - 1),
            method=method,
            random_state=random_state,
            init="pca",
        )
        display = cls(
            tsne.fit_transform(Z),
            y,
            display_labels=_display_names(np.unique(y), display_labels, caller),
            n_latent=Z.shape[1],
        )
        return display.plot(ax=ax, title=title)

    @classmethod
    def from_estimator(cls, estimator, X, y, **kwargs):
        """Embed ``estimator.transform(X)`` with t-SNE and plot it by class.

        Parameters
        ----------
        estimator : transformer
            Fitted transformer (or pipeline) whose ``transform`` gives the
            latent vectors, e.g. :class:`~skradnod.models.AutoencoderEmbedding`.
        X : array-like or image batch
            Input of ``estimator.transform``.
        y : array-like of shape (n_samples,)
            Class of each sample.
        **kwargs : dict
            The other parameters of :meth:`from_embedding`.

        Returns
        -------
        display : LatentTSNEDisplay

        Raises
        ------
        ValueError
            If ``estimator`` has no ``transform``.
        """
        if not hasattr(estimator, "transform"):
            raise ValueError(
                "LatentTSNEDisplay.from_estimator needs a transformer that gives "
                f"the latent vectors; {type(estimator).__name__} has no transform."
            )
        return cls.from_embedding(estimator.transform(X), y, **kwargs)
