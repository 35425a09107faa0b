"""``rdm-widgets create-rdms`` and ``rdm-widgets tiled-rdm``: DNN features -> RDM files / a store.

Each command parses its options (Net2Brain's time-resolved and dimensionality-reduction options
included) and calls :meth:`rdm_widgets.RDMCreator.create_rdms` or
:func:`rdm_widgets.tiled_rdm` with them; options left out keep the API's defaults.
"""
from __future__ import annotations

from ..creator import RDMCreator
from ..tiled import tiled_rdm
from ._common import (EXIT_OK, add_command, add_common, add_scheduler, api_default, api_kwargs, int_or_str,
                      progress_for, split_list)

__all__ = ["add_create_rdms", "add_tiled_rdm"]

_CREATE_EXAMPLES = """\
  rdm-widgets create-rdms features/alexnet rdms/alexnet
  rdm-widgets create-rdms features/alexnet rdms/alexnet --distance euclidean --layers conv1,fc7
  rdm-widgets create-rdms features/gpt2.h5 rdms/gpt2 --pooling mean --chunk-size 4096 --device cuda
  rdm-widgets create-rdms features/video rdms/video --multi-timepoint all_timepoints
  rdm-widgets create-rdms features/video rdms/video --dim-reduction srp --n-components auto --random-state 1
  srun rdm-widgets create-rdms /scratch/feats/alexnet /scratch/rdms/alexnet --device cuda
"""

_TILED_EXAMPLES = """\
  rdm-widgets tiled-rdm features/big.h5 store/big --layer fc7
  rdm-widgets tiled-rdm features/big.h5 store/big --layer fc7 --tile-size 8192 --device cuda
  rdm-widgets tiled-rdm features/big.h5 store/big --layer fc7 --scheduler tcp://10.0.0.5:8786
  rdm-widgets tiled-rdm features/big.h5 store/big --layer fc7 --dim-reduction pca --n-components 256
(a store left unfinished is resumed by running the same command again)
"""


def _add_feature_options(p, func) -> None:
    p.add_argument("--distance", help=f"distance name (default: {api_default(func, 'distance')}); "
                                      "see rdm_widgets.available_distances()")
    p.add_argument("--pooling", help="pooling of sequence layers: mean, max, first or last "
                                     "(needed when their lengths vary)")
    p.add_argument("--device", help=f"cpu, cuda, cuda:1 or mps (default: {api_default(func, 'device')})")
    p.add_argument("--dtype", help=f"float32 or float64 (default: {api_default(func, 'dtype')})")


#: the API keywords of the dimensionality reduction (Net2Brain's names), on both commands
_REDUCTION = ("dim_reduction", "n_components", "n_samples_estim", "srp_before_pca", "max_dim_allowed",
              "random_state")


def _add_reduction_options(p, func) -> None:
    """``--dim-reduction`` and its settings; values go to the API unchanged, which validates them
    (so its messages, e.g. "Did you mean 'pca'?", are the command line's)."""
    g = p.add_argument_group("dimensionality reduction (fitted per layer on a seeded sample of stimuli)")
    g.add_argument("--dim-reduction", metavar="{pca,srp}",
                   help="reduce each layer's features before the distances: pca or srp (sparse random "
                        "projection) (default: none)")
    g.add_argument("--n-components", type=int_or_str, metavar="N|auto",
                   help="components kept per layer, or auto (Johnson-Lindenstrauss size, never more than "
                        "the layer has) (default: auto)")
    g.add_argument("--n-samples-estim", type=int, metavar="N",
                   help=f"stimuli the reduction is fitted on (default: {api_default(func, 'n_samples_estim')})")
    g.add_argument("--srp-before-pca", action="store_true",
                   help="with pca: a sparse random projection first (for very wide layers)")
    g.add_argument("--max-dim-allowed", type=int, metavar="N",
                   help="reduce only layers wider than N features (default: every layer)")
    g.add_argument("--random-state", type=int, metavar="N",
                   help=f"seed of the stimulus sample and the projection "
                        f"(default: {api_default(func, 'random_state')})")


def _reduction_kwargs(args) -> dict:
    """The reduction options given; settings without ``--dim-reduction`` are an error here (the
    API ignores them, as Net2Brain does, but a command line that silently drops an option
    misleads)."""
    given = api_kwargs(args, _REDUCTION)
    if "dim_reduction" not in given and given:
        flags = ", ".join("--" + name.replace("_", "-") for name in given)
        verb = "applies" if len(given) == 1 else "apply"
        raise ValueError(f"{flags} only {verb} with --dim-reduction pca or --dim-reduction srp; add one "
                         "or leave them out.")
    return given


def add_create_rdms(subparsers) -> None:
    p = add_command(subparsers, "create-rdms", "one RDM file per layer of DNN features",
                    _CREATE_EXAMPLES,
                    "Compute one RDM per layer of DNN features (RDMCreator.create_rdms) and save each as "
                    "OUT/RDM_<layer>.npz (or .pt). Prints the output folder.")
    p.add_argument("features", metavar="FEATURES",
                   help="per-stimulus .npz folder, per-layer .npz folder or .h5/.hdf5 file")
    p.add_argument("save_path", metavar="OUT", help="output folder (created)")
    p.add_argument("--layers", type=split_list, action="extend", metavar="L1,L2",
                   help="layers to use (default: all); may be given several times")
    p.add_argument("--chunk-size", type=int, metavar="ROWS", help="rows per distance block (bounds memory)")
    p.add_argument("--format", dest="save_format", metavar="FORMAT",
                   help=f"npz or pt (default: {api_default(RDMCreator.create_rdms, 'save_format')})")
    _add_feature_options(p, (RDMCreator.create_rdms, RDMCreator))
    p.add_argument("--multi-timepoint", dest="multi_timepoint_rdms", metavar="{clip,all_timepoints}",
                   help="time-resolved RDMs of video / sequence layers: one per clip of [1, clips, ...] "
                        "features, or one per (clip, t) of [1, clips, T, ...] (Net2Brain's "
                        "multi_timepoint_rdms; saved as npz only)")
    _add_reduction_options(p, (RDMCreator.create_rdms, RDMCreator.compute_rdms))
    p.add_argument("--overwrite", action="store_true", help="replace existing RDM files")
    add_scheduler(p)
    add_common(p)
    p.set_defaults(run=run_create_rdms)


def run_create_rdms(args) -> int:
    progress, verbose = progress_for(args, "RDMs")
    creator = RDMCreator(**api_kwargs(args, ("device", "dtype")), verbose=verbose)
    out = creator.create_rdms(args.features, args.save_path, progress=progress,
                              **api_kwargs(args, ("save_format", "distance", "chunk_size", "pooling", "layers",
                                                  "overwrite", "client", "multi_timepoint_rdms")),
                              **_reduction_kwargs(args))
    print(out)
    return EXIT_OK


def add_tiled_rdm(subparsers) -> None:
    p = add_command(subparsers, "tiled-rdm", "one layer's RDM out of core, into a resumable store",
                    _TILED_EXAMPLES,
                    "Compute one layer's RDM in tiles into an on-disk store (rdm_widgets.tiled_rdm), for "
                    "stimulus counts whose RDM does not fit in memory. Prints the store folder.")
    p.add_argument("features", metavar="FEATURES",
                   help="per-stimulus .npz folder, per-layer .npz folder or .h5/.hdf5 file")
    p.add_argument("save_path", metavar="STORE", help="store folder (created; an unfinished one is resumed)")
    p.add_argument("--layer", help="the layer (required when the features hold several)")
    p.add_argument("--tile-size", type=int, metavar="N",
                   help=f"stimuli per tile side (default: {api_default(tiled_rdm, 'tile_size')})")
    _add_feature_options(p, tiled_rdm)
    _add_reduction_options(p, tiled_rdm)
    p.add_argument("--overwrite", action="store_true", help="discard an existing store and start again")
    p.add_argument("--no-resume", dest="resume", action="store_false",
                   help="do not continue an unfinished store (an existing one is an error)")
    p.add_argument("--keep-features", action="store_true", help="keep the staged features in the store")
    add_scheduler(p)
    add_common(p)
    p.set_defaults(run=run_tiled_rdm)


def run_tiled_rdm(args) -> int:
    progress, verbose = progress_for(args, "RDM tiles")
    store = tiled_rdm(args.features, args.save_path, progress=progress, verbose=verbose,
                      **api_kwargs(args, ("layer", "distance", "pooling", "tile_size", "device", "dtype",
                                          "resume", "overwrite", "keep_features", "client")),
                      **_reduction_kwargs(args))
    print(store.path)
    return EXIT_OK
