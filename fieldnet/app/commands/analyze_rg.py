"""`fieldnet analyze rg DATA`: real-space RG flow of configurations (block spins, max pooling)."""

from __future__ import annotations

import argparse

from fieldnet.app.commands import analyze

HELP = "RG coarse-graining (majority rule, max pool): flow of |m|, energy, Binder cumulant; T -> T' map"
DESCRIPTION = (
    "Coarse-grain the configurations of DATA repeatedly with b x b blocks, by majority rule (random "
    "tie breaks, seeded) and by max pooling, and follow <|m|>, the energy per site and the Binder "
    "cumulant at each temperature.  When DATA also holds the lattice size L/b^k, the coarse-grained "
    "statistics are matched to the direct ones, giving the effective temperature map T -> T'. "
    "Writes rg.nc, rg.json and PNG figures into OUTDIR."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    analyze.add_data_argument(parser, " (2D spins)")
    analyze.add_output_argument(parser, "rg", source="DATA", beside="the data file")
    analyze.add_size_argument(parser, help="lattice size to coarse-grain (default: the largest)")
    parser.add_argument("--block", type=int, default=2, help="block size b (default 2)")
    parser.add_argument("--steps", type=int, default=None, help="coarse-graining steps (default: down to 2 x 2)")
    analyze.add_seed_argument(parser, help="seed of the majority rule's tie breaks (default 0)")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    import numpy as np

    from fieldnet.analysis import plots
    from fieldnet.analysis.rg import (
        effective_temperature,
        map_fixed_point,
        plot_flow,
        plot_temperature_map,
        rg_flow,
        unstable_temperature,
    )
    from fieldnet.analysis.samples import (
        load_configurations,
        reference_tc,
        write_json,
        write_netcdf,
    )
    from fieldnet.io.dataset import lattice_sizes

    analyze.output_dir_for(args, "rg", source="data", create=False)  # refuse before the work
    src = Path(args.data)
    sizes = lattice_sizes(src)
    L = max(sizes) if args.L is None else args.L
    ds = load_configurations(src, L)
    flow = rg_flow(ds, b=args.block, steps=args.steps, seed=args.seed)
    direct = {int(Lk): load_configurations(src, int(Lk)) for Lk in flow["L_step"].values[1:] if int(Lk) in sizes}
    t_eff = effective_temperature(flow, direct)
    tc_ref = reference_tc(ds)
    outdir = analyze.output_dir_for(args, "rg", source="data")
    result_ds = flow.assign(T_eff=t_eff).assign_attrs(fieldnet_format="rg", data=str(src), Tc_reference=tc_ref)
    write_netcdf(result_ds, outdir / "rg.nc")
    unstable = {m: unstable_temperature(flow, m) for m in flow["rule"].values}
    result = {
        "data": str(src), "L": L, "block_size": args.block, "seed": args.seed,
        "L_step": flow["L_step"].values, "temperature": flow["temperature"].values,
        "unstable_temperature": unstable, "Tc_reference": tc_ref,
        "direct_sizes_matched": sorted(direct),
        "map_fixed_point": {m: map_fixed_point(t_eff, m) for m in flow["rule"].values},
        "flow": {m: {name: flow[name].sel(rule=m).values for name in ("abs_m", "energy", "binder")}
                 for m in flow["rule"].values},
        "T_eff": {m: t_eff.sel(rule=m).values for m in flow["rule"].values},
    }
    write_json(result, outdir / "rg.json")
    written = [outdir / "rg.nc", outdir / "rg.json"]
    for method in flow["rule"].values:
        written.append(plots.save(plot_flow(flow, str(method), tc=unstable[method]), outdir / f"rg_flow_{method}.png"))
    if direct:
        written.append(plots.save(plot_temperature_map(t_eff, tc=tc_ref), outdir / "rg_temperature_map.png"))
    print(f"RG flow of L={L} with b={args.block}: steps down to L={int(flow['L_step'].values[-1])}")
    for m, t in unstable.items():
        print(f"  {m}: Binder cumulant unchanged by one step at T = {t:.4f} J/k_B" if np.isfinite(t)
              else f"  {m}: no unstable point in the temperature range")
    for m, t in result["map_fixed_point"].items():
        if np.isfinite(t):
            print(f"  {m}: effective temperature map T' = T at T = {t:.4f} J/k_B (unstable fixed point)")
    if not direct:
        print("  no direct data at L/b in the file: no effective temperature map (simulate L/b too to get it)")
    analyze.print_written(*written)
    return 0
