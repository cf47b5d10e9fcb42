"""`fieldnet analyze embedding MODEL DATA`: penultimate-layer features by PCA (and t-SNE), coloured by T."""

from __future__ import annotations

import argparse

from fieldnet.app.commands import analyze

HELP = "penultimate-layer features of many configurations projected to 2D by PCA (and t-SNE), coloured by T"
DESCRIPTION = (
    "Collect the features that feed MODEL's final Dense layer for configurations at every temperature, "
    "project them to 2D by principal component analysis and, when scikit-learn is installed, by t-SNE. "
    "Writes embedding.nc, embedding.json and embedding.png into OUTDIR."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    analyze.add_model_data_arguments(parser, "embedding")
    analyze.add_per_T_argument(parser, 100)
    parser.add_argument("--no-tsne", action="store_true", help="PCA only")
    analyze.add_seed_argument(parser, help="seed of the choice of configurations and of t-SNE")


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from fieldnet.analysis import plots
    from fieldnet.analysis.embedding import embedding, penultimate_index, plot_embedding
    from fieldnet.analysis.samples import reference_tc, write_json, write_netcdf

    analyze.output_dir_for(args, "embedding", create=False)  # refuse before the work
    model, ds, _ = analyze.model_and_samples(args, args.per_T, check=penultimate_index)
    emb = embedding(model, ds, seed=args.seed, use_tsne=not args.no_tsne)
    tc = reference_tc(ds)
    outdir = analyze.output_dir_for(args, "embedding")
    write_netcdf(emb.assign_attrs(fieldnet_format="embedding", **analyze.provenance(args)),
                 outdir / "embedding.nc")
    T = emb["temperature"].values
    temps = np.unique(T)
    pc1 = emb["pca"].values[:, 0]
    pc1_by_T = [float(pc1[T == t].mean()) for t in temps]
    corr = float(np.corrcoef(pc1, T)[0, 1]) if np.std(pc1) > 0 else float("nan")
    write_json({**analyze.provenance(args), "feature_layer": emb.attrs["feature_layer"],
                "n_features": emb.attrs["n_features"], "n_samples": int(T.size),
                "explained_variance_ratio": emb["explained_variance_ratio"].values,
                "temperature": temps, "pc1_mean": pc1_by_T, "pc1_temperature_correlation": corr,
                "tsne": emb.attrs["tsne"]}, outdir / "embedding.json")
    fig = plots.save(plot_embedding(emb, tc=tc), outdir / "embedding.png")
    r = emb["explained_variance_ratio"].values
    print(f"{T.size} configurations, {emb.attrs['n_features']} features from {emb.attrs['feature_layer']}: "
          f"PC1 explains {100 * r[0]:.1f}%, PC2 {100 * r[1]:.1f}% of the variance; "
          f"correlation of PC1 with T {corr:+.3f}")
    print(f"t-SNE: {emb.attrs['tsne']}")
    analyze.print_written(outdir / "embedding.nc", outdir / "embedding.json", fig)
    return 0
