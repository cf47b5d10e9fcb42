"""What the network's last hidden layer separates: penultimate features projected to 2D.

The features are the input of the model's final Dense layer (flattened), one vector per
configuration.  Principal component analysis (numpy SVD of the centred features) gives a linear
2D projection and the share of variance each component explains; for a good phase classifier the
first component tracks the order parameter and orders the configurations by temperature.  t-SNE
(scikit-learn, when installed) gives a non-linear projection that shows clusters.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from fieldnet.errors import FieldnetError
from fieldnet.io.cf import temperature_attrs


def penultimate_index(model) -> int:
    """Index of the layer whose output feeds the final Dense layer (-1: the input itself)."""
    from fieldnet.engine.layers import Dense

    dense = [i for i, layer in enumerate(model.layers) if isinstance(layer, Dense)]
    if not dense:
        raise FieldnetError("the model has no Dense layer; the embedding uses the features that feed the final Dense layer")
    return dense[-1] - 1


def penultimate_features(model, x: np.ndarray, batch_size: int = 256) -> tuple[np.ndarray, str]:
    """(features (N, F) float64, label of the layer they come from)."""
    k = penultimate_index(model)
    x = np.asarray(x, dtype=np.float32)
    if k < 0:
        return x.reshape(len(x), -1).astype(np.float64), "input"
    label, h = model.activations(x, batch_size)[k]
    return np.asarray(h, dtype=np.float64).reshape(len(x), -1), label


def pca(features: np.ndarray, n_components: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Principal components by SVD of the centred features.

    Args:
        features: (N, F).

    Returns:
        (scores (N, n_components), explained variance ratio (n_components,), components
        (n_components, F)); each component's sign makes its largest-magnitude loading positive.
    """
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise FieldnetError(f"PCA needs at least 2 feature vectors, got shape {f.shape}")
    centred = f - f.mean(axis=0)
    u, s, vt = np.linalg.svd(centred, full_matrices=False)
    k = min(n_components, s.size)
    signs = np.sign(vt[np.arange(k), np.argmax(np.abs(vt[:k]), axis=1)])
    signs[signs == 0] = 1.0
    total = float(np.sum(s**2))
    ratio = s[:k] ** 2 / total if total > 0 else np.zeros(k)
    scores = u[:, :k] * s[:k] * signs
    if k < n_components:  # fewer features than components: pad with zeros
        scores = np.pad(scores, ((0, 0), (0, n_components - k)))
        ratio = np.pad(ratio, (0, n_components - k))
    return scores, ratio, vt[:k] * signs[:, None]


def tsne(features: np.ndarray, seed: int = 0) -> np.ndarray | None:
    """2D t-SNE of the features (N, F), or None when scikit-learn is not installed."""
    try:
        from sklearn.manifold import TSNE
    except ImportError:
        return None
    n = features.shape[0]
    perplexity = float(min(30.0, max(2.0, (n - 1) / 3.0)))
    return TSNE(n_components=2, perplexity=perplexity, random_state=seed, init="pca").fit_transform(features)


def embedding(model, ds: xr.Dataset, seed: int = 0, use_tsne: bool = True) -> xr.Dataset:
    """Penultimate-layer features of ``ds``'s configurations, projected by PCA (and t-SNE).

    Returns:
        Dataset with ``pca (sample, component)``, ``explained_variance_ratio (component)``,
        ``tsne (sample, component)`` when available, ``temperature (sample)`` (J/k_B); attributes
        ``feature_layer``, ``n_features`` and ``tsne`` ("done" or why not).
    """
    x = np.asarray(ds["config"].values, dtype=np.float32)
    features, label = penultimate_features(model, x)
    scores, ratio, _ = pca(features)
    data = {
        "pca": (("sample", "component"), scores, {"long_name": "principal component scores"}),
        "explained_variance_ratio": ("component", ratio),
    }
    note = "not requested"
    if use_tsne:
        t = tsne(features, seed)
        if t is None:
            note = "scikit-learn is not installed (pip install scikit-learn for t-SNE)"
        else:
            data["tsne"] = (("sample", "component"), t, {"long_name": "t-SNE coordinates"})
            note = "done"
    return xr.Dataset(data, coords={"component": [1, 2],
                                    "temperature": ("sample", np.asarray(ds["temperature"].values, dtype=np.float64),
                                                    temperature_attrs())},
                      attrs={"feature_layer": label, "n_features": int(features.shape[1]), "tsne": note, "seed": seed})


def plot_embedding(emb: xr.Dataset, tc: float | None = None, *, fig=None):
    """PCA (and t-SNE) scatter coloured by temperature, and PC1 against T; returns the Figure.

    Args:
        emb: :func:`embedding` output.
        tc: a critical temperature (J/k_B) to mark on the PC1 panel.
        fig: an empty Figure or SubFigure to draw in (default: a new figure).
    """
    from fieldnet.analysis import plots

    T = emb["temperature"].values
    panels = 3 if "tsne" in emb else 2
    fig, axes = plots.figure(1, panels, size=(5.0 * panels + 1.0, 4.4), fig=fig)
    cmap = "coolwarm"
    r = emb["explained_variance_ratio"].values
    s = axes[0].scatter(emb["pca"].values[:, 0], emb["pca"].values[:, 1], c=T, cmap=cmap, s=12, edgecolors="none")
    axes[0].set_xlabel(f"PC 1 ({100 * r[0]:.1f}% of variance)")
    axes[0].set_ylabel(f"PC 2 ({100 * r[1]:.1f}% of variance)")
    axes[0].set_title(f"PCA of the {int(emb.attrs['n_features'])} features feeding the last Dense\n"
                      f"(output of {emb.attrs['feature_layer']})", fontsize=10)
    axes[1].scatter(T, emb["pca"].values[:, 0], c=T, cmap=cmap, s=10, edgecolors="none")
    axes[1].set_xlabel(plots.T_LABEL)
    axes[1].set_ylabel("PC 1 score")
    axes[1].set_title("first principal component against T", fontsize=10)
    if tc is not None and np.isfinite(tc):
        plots.mark_vertical(axes[1], tc, f"Tc = {tc:.3f}")
        axes[1].legend()
    if "tsne" in emb:
        axes[2].scatter(emb["tsne"].values[:, 0], emb["tsne"].values[:, 1], c=T, cmap=cmap, s=12, edgecolors="none")
        axes[2].set_xlabel("t-SNE 1")
        axes[2].set_ylabel("t-SNE 2")
        axes[2].set_title("t-SNE", fontsize=10)
    else:
        fig.suptitle(f"t-SNE not shown: {emb.attrs['tsne']}", fontsize=8, color="gray")
    fig.colorbar(s, ax=axes, label=plots.T_LABEL)
    return fig
