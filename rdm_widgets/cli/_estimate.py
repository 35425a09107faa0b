"""``rdm-widgets estimate {features,eeg,tiled}``: the cost of a run before it starts.

Each form calls the estimate of :mod:`rdm_widgets.estimate` that predicts the matching command
(``create-rdms``, ``eeg-rdm``, ``tiled-rdm``) with the same options, and prints the
:class:`rdm_widgets.CostEstimate` (time, peak RAM, disk) and the counted work.
"""
from __future__ import annotations

from ..estimate import estimate_eeg_rdm, estimate_features, estimate_tiled
from ._common import EXIT_OK, Formatter, add_command, add_common, api_default, api_kwargs, split_list
from ._dnn import _add_reduction_options, _reduction_kwargs
from ._eeg import EEG_OPTIONS, add_eeg_options, add_epochs_arguments, read_eeg_input

__all__ = ["add_estimate", "describe"]

_EXAMPLES = """\
  rdm-widgets estimate features features/alexnet --distance correlation
  rdm-widgets estimate eeg sub-01_epochs.npz --method lda --decim 2
  rdm-widgets estimate tiled 200000 4096 --tile-size 8192
  rdm-widgets estimate features features/video --multi-timepoint clip --dim-reduction srp
"""


def add_estimate(subparsers) -> None:
    p = add_command(subparsers, "estimate", "time, memory and disk a run will need (before running it)",
                    _EXAMPLES,
                    "Predict the cost of create-rdms (features), eeg-rdm (eeg) or tiled-rdm (tiled) from "
                    "the sizes, with the same options (rdm_widgets.estimate; rough, about a factor 2).")
    kinds = p.add_subparsers(dest="kind", metavar="{features,eeg,tiled}", required=True,
                             parser_class=type(p))

    f = kinds.add_parser("features", help="cost of create-rdms on a feature set (reads headers only)",
                         formatter_class=Formatter, argument_default=p.argument_default)
    f.add_argument("features", metavar="FEATURES", help="as for create-rdms")
    f.add_argument("--layers", type=split_list, action="extend", metavar="L1,L2", help="layers (default: all)")
    f.add_argument("--chunk-size", type=int, metavar="ROWS", help="rows per distance block")
    for name in ("distance", "pooling", "device", "dtype"):
        default = api_default(estimate_features, name)
        f.add_argument(f"--{name}", help=f"as for create-rdms (default: {default})")
    f.add_argument("--multi-timepoint", dest="multi_timepoint_rdms", metavar="{clip,all_timepoints}",
                   help="as for create-rdms: one RDM per clip / (clip, t)")
    _add_reduction_options(f, estimate_features)
    add_common(f, progress=False)
    f.set_defaults(run=_run_features)

    e = kinds.add_parser("eeg", help="cost of eeg-rdm on an epochs file", formatter_class=Formatter,
                         argument_default=p.argument_default)
    add_epochs_arguments(e)
    add_eeg_options(e)
    e.add_argument("--generalization", action="store_true", default=False,
                   help="the cost of a temporal generalisation run (eeg-rdm --generalization)")
    add_common(e, progress=False)
    e.set_defaults(run=_run_eeg)

    t = kinds.add_parser("tiled", help="cost of tiled-rdm from N stimuli and D features",
                         formatter_class=Formatter, argument_default=p.argument_default)
    t.add_argument("n_stimuli", type=int, metavar="N", help="number of stimuli")
    t.add_argument("feature_dim", type=int, metavar="D", help="features per stimulus (after pooling)")
    t.add_argument("--tile-size", type=int, metavar="N",
                   help=f"stimuli per tile side (default: {api_default(estimate_tiled, 'tile_size')})")
    for name in ("distance", "device", "dtype"):
        t.add_argument(f"--{name}", help=f"as for tiled-rdm (default: {api_default(estimate_tiled, name)})")
    _add_reduction_options(t, estimate_tiled)
    add_common(t, progress=False)
    t.set_defaults(run=_run_tiled)


def describe(est) -> str:
    """The estimate's one-line summary, then its device, regime and counted work."""
    lines = [str(est), f"device: {est.device}"]
    if est.regime:
        lines.append(f"regime: {est.regime}")
    for key, value in est.work.items():
        lines.append(f"{key}: {value:,}" if isinstance(value, int) else f"{key}: {value:.4g}"
                     if isinstance(value, float) else f"{key}: {value}")
    return "\n".join(lines)


def _run_features(args) -> int:
    print(describe(estimate_features(args.features, **api_kwargs(
        args, ("distance", "pooling", "layers", "device", "dtype", "chunk_size", "multi_timepoint_rdms")),
        **_reduction_kwargs(args))))
    return EXIT_OK


def _run_eeg(args) -> int:
    eeg, labels, times, groups = read_eeg_input(args)
    kwargs = api_kwargs(args, EEG_OPTIONS + ("generalization",))
    print(describe(estimate_eeg_rdm(eeg, labels, times=times, groups=groups, **kwargs)))
    return EXIT_OK


def _run_tiled(args) -> int:
    print(describe(estimate_tiled(args.n_stimuli, args.feature_dim,
                                  **api_kwargs(args, ("distance", "tile_size", "device", "dtype")),
                                  **_reduction_kwargs(args))))
    return EXIT_OK
