"""``rdm-widgets compare``: model RDMs vs brain RDMs -> a CSV table (:func:`rdm_widgets.model_brain_table`).

MODEL_RDMS is a folder of RDM files (:func:`rdm_widgets.load_rdms`) or one RDM file
(:meth:`rdm_widgets.LayerRDM.from_file`); BRAIN_RDMS one file read by
:func:`rdm_widgets.read_rdm_file` (one RDM or a stack of subject RDMs). The table (noise
ceiling and permutation p included) is written with :meth:`RSATable.to_csv`; a short summary is
printed.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from ..model_rsa import model_brain_table
from ..rdm import LayerRDM, load_rdms
from ..rdm_files import read_rdm_file
from ._common import EXIT_OK, PROG, add_command, add_common, api_default, api_kwargs, check_output_file, progress_for

__all__ = ["add_compare", "read_names", "summary"]

_EXAMPLES = """\
  rdm-widgets compare rdms/alexnet brain/fmri_EVC_RDMs.npz --out alexnet_vs_evc.csv
  rdm-widgets compare rdms/alexnet brain/fmri_EVC_RDMs.npz --out t.csv --stimuli stimuli.txt
  rdm-widgets compare rdms/alexnet/RDM_fc7.npz behaviour.csv --out t.csv --method kendall_tau_a
  rdm-widgets compare rdms/alexnet brain.mat --variable RDMs --out t.csv --permutations 10000
  rdm-widgets compare rdms/alexnet brain/fmri_IT_RDMs.npz --out t.csv --bootstrap both --n-bootstrap 2000
"""


def add_compare(subparsers) -> None:
    f = model_brain_table
    p = add_command(subparsers, "compare", "model RDMs vs brain RDMs: a table with noise ceiling and p",
                    _EXAMPLES,
                    "Correlate every model layer with a brain RDM or a stack of subject RDMs "
                    "(rdm_widgets.model_brain_table): r, its test, FDR, the group-mean r with its "
                    "permutation p, and the noise ceiling. Stimuli are matched by name.")
    p.add_argument("models", metavar="MODEL_RDMS", help="folder of RDM files (create-rdms' output) or one RDM file")
    p.add_argument("brain", metavar="BRAIN_RDMS", help="brain/behaviour RDM file: .npz, .npy, .csv, .mat, .hdf5")
    p.add_argument("--out", required=True, metavar="TABLE.csv", help="the CSV table to write")
    p.add_argument("--method", help=f"spearman, pearson or kendall_tau_a (default: {api_default(f, 'method')})")
    p.add_argument("--permutations", type=int, dest="n_permutations", metavar="N",
                   help=f"stimulus-label permutations per row, 0: none (default: {api_default(f, 'n_permutations')})")
    p.add_argument("--random-state", type=int, metavar="SEED",
                   help=f"seed of the permutations (default: {api_default(f, 'random_state')})")
    p.add_argument("--bootstrap", choices=("stimuli", "subjects", "both"),
                   help="bootstrap confidence intervals of r over stimuli, subjects or both (rsatoolbox's "
                        "definitions; default: none)")
    p.add_argument("--n-bootstrap", type=int, metavar="N",
                   help=f"bootstrap samples (default: {api_default(f, 'n_bootstrap')})")
    p.add_argument("--ci", type=float, metavar="LEVEL",
                   help=f"confidence level of the intervals (default: {api_default(f, 'ci')})")
    p.add_argument("--stimuli", metavar="FILE",
                   help="stimulus names of a brain file that has none: a text file (one per line) or a JSON list")
    p.add_argument("--variable", metavar="NAME", help="the array of the brain file holding the RDMs, when several")
    p.add_argument("--model-name", metavar="NAME", help="model name in the table (default: the folder's name)")
    p.add_argument("--brain-name", metavar="NAME", help="brain name in the table (default: the file's stem)")
    p.add_argument("--overwrite", action="store_true", default=False, help="replace an existing table")
    add_common(p)
    p.set_defaults(run=run_compare)


def read_names(path) -> list:
    """Stimulus names from a text file (one per line, blank lines ignored) or a JSON list."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Stimulus names file not found: {str(path)!r}.")
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        names = json.loads(text)
        if not isinstance(names, list):
            raise ValueError(f"{path.name} must hold a JSON list of stimulus names.")
        return [str(n) for n in names]
    return [line.strip() for line in text.splitlines() if line.strip()]


def _models(path: Path, name) -> dict:
    """``{model: {layer: LayerRDM}}``; the model is named after the folder (of the file)."""
    if path.is_dir():
        # a damaged layer file fails the command: a table without that layer (and p_fdr over
        # fewer layers) would look complete
        return {name or path.resolve().name: load_rdms(path, on_error="raise")}
    try:
        rdm = LayerRDM.from_file(path)
    except ValueError as err:
        _swapped(path, err)
        raise
    return {name or path.resolve().parent.name: {rdm.layer or path.stem: rdm}}


def _swapped(path: Path, err: ValueError) -> None:
    """Raise the likelier cause when MODELS is a stack of subject RDMs: MODELS and BRAIN swapped
    (the reader's own advice, ``load_rdm_stack``, is a Python call)."""
    try:
        stack = read_rdm_file(path)
    except (ValueError, TypeError, OSError):
        return
    if stack.n_subjects > 1:
        raise ValueError(f"MODELS {path.name!r} holds {stack.n_subjects} RDMs of {stack.n_stimuli} stimuli, like a "
                         "BRAIN file (one RDM per subject); MODELS is one model RDM file or a folder of RDM_<layer> "
                         f"files. The order is `{PROG} compare MODELS BRAIN`: were the two swapped?") from err


def _fmt(value, digits: int = 3) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def summary(table) -> str:
    """The table as aligned text: brain, model, layer, r, p, p_fdr and the noise ceiling."""
    head = ("brain", "model", "layer", "r", "ci", "p", "p_fdr", "ceiling")
    rows = [(r["brain"], r["model"], r["layer"], _fmt(r["r"]),
             "" if math.isnan(r.get("ci_low", math.nan)) else f"{r['ci_low']:.3f}..{r['ci_high']:.3f}",
             _fmt(r["p"], 4), _fmt(r["p_fdr"], 4),
             "" if math.isnan(r["noise_lower"]) else f"{r['noise_lower']:.3f}-{r['noise_upper']:.3f}")
            for r in table.rows]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    lines = ["  ".join(str(x).ljust(w) for x, w in zip(row, widths)).rstrip() for row in (head, *rows)]
    return "\n".join(lines + table.notes + [f"skipped: {s}" for s in table.skipped])


def run_compare(args) -> int:
    stimuli = read_names(args.stimuli) if getattr(args, "stimuli", None) else None
    brain = read_rdm_file(args.brain, stimuli=stimuli, name=getattr(args, "brain_name", None),
                          variable=getattr(args, "variable", None))
    models = _models(Path(args.models), getattr(args, "model_name", None))
    out = Path(args.out)
    check_output_file(out, args.overwrite)                      # before the permutations, not after
    progress, _ = progress_for(args, "RSA permutations", bar=False)
    table = model_brain_table(models, brain, progress=progress,
                              **api_kwargs(args, ("method", "n_permutations", "random_state", "bootstrap",
                                                   "n_bootstrap", "ci")))
    table.to_csv(out, overwrite=args.overwrite)
    print(summary(table))
    print(f"table: {out}")
    return EXIT_OK
