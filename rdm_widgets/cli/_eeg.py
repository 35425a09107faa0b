"""``rdm-widgets eeg-rdm``: an epochs file -> a time-resolved RDM file (:func:`rdm_widgets.eeg_rdm`).

The epochs are read with :func:`rdm_widgets.read_epochs` (an ``.npz`` whose arrays are found by
content, or an MNE ``-epo.fif`` file when mne is installed); ``--labels`` / ``--groups`` pick
label arrays of the file by name and ``--data-key`` the epochs array of an ``.npz``. The same
reading and options serve ``rdm-widgets estimate eeg``.
"""
from __future__ import annotations

from pathlib import Path

from ..data_root import read_epochs_keys
from ..eeg import eeg_rdm, read_epochs
from ._common import (EXIT_OK, add_command, add_common, add_scheduler, api_default, api_kwargs,
                      check_output_file, float_or_str, int_or_str, progress_for)

__all__ = ["add_eeg_rdm", "add_epochs_arguments", "add_eeg_options", "read_eeg_input", "EEG_OPTIONS"]

#: the eeg_rdm options the command line passes on (argparse dest == the API's keyword)
EEG_OPTIONS = ("method", "cv", "pseudo_trials", "n_permutations", "random_state", "noise_normalization",
               "shrinkage", "score", "window", "decim", "device", "balance")

_EXAMPLES = """\
  rdm-widgets eeg-rdm sub-01_epochs.npz rdms/sub-01_eeg.npz
  rdm-widgets eeg-rdm sub-01_epochs.npz rdms/sub-01_eeg.npz --labels target --window 4 --decim 4
  rdm-widgets eeg-rdm sub-01-epo.fif rdms/sub-01_eeg.npz --method crossnobis --cv 5
  rdm-widgets eeg-rdm sub-01_epochs.npz out.npz --pseudo-trials 5 --n-permutations 20 --random-state 0
  rdm-widgets eeg-rdm sub-01_epochs.npz gen.npz --labels target --decim 4 --generalization
"""


def add_epochs_arguments(p) -> None:
    """EPOCHS and the options that choose arrays of the file."""
    p.add_argument("epochs", metavar="EPOCHS",
                   help=".npz with a trials x channels x times array and a label array, or an MNE -epo.fif")
    p.add_argument("--labels", dest="labels_key", metavar="KEY",
                   help="the label array of the file (default: the first found, e.g. 'labels'; "
                        "'event' for -epo.fif: the event names)")
    p.add_argument("--data-key", metavar="KEY", help="the epochs array of an .npz (default: found by content)")
    p.add_argument("--groups", dest="groups_key", metavar="KEY",
                   help="a label array of the file holding each trial's stimulus/repetition id")


def add_eeg_options(p) -> None:
    """The options of :func:`rdm_widgets.eeg_rdm` (defaults shown from its signature)."""
    d = lambda name: api_default(eeg_rdm, name)          # noqa: E731
    g = p.add_argument_group("eeg_rdm options (see help(rdm_widgets.eeg_rdm))")
    g.add_argument("--method", help=f"lda, lda_shrinkage, cv_euclidean or crossnobis (default: {d('method')})")
    g.add_argument("--cv", type=int_or_str, help=f"'loo' or a number of folds (default: {d('cv')})")
    g.add_argument("--pseudo-trials", type=int, metavar="K", help="average each condition's trials into K "
                                                                  "pseudo-trials")
    g.add_argument("--n-permutations", type=int, metavar="N",
                   help=f"random pseudo-trial assignments (default: {d('n_permutations')})")
    g.add_argument("--random-state", type=int, metavar="SEED", help="seed (default: drawn and recorded in meta)")
    g.add_argument("--noise-normalization", metavar="KIND", help="epoch or time (default: none)")
    g.add_argument("--shrinkage", type=float_or_str, help=f"'auto' or 0..1 (default: {d('shrinkage')})")
    g.add_argument("--score", help=f"accuracy or decision (default: {d('score')})")
    g.add_argument("--window", type=int, metavar="SAMPLES", help="moving average over this many samples")
    g.add_argument("--decim", type=int, metavar="D", help=f"keep every D-th sample (default: {d('decim')})")
    g.add_argument("--device", help=f"cpu or cuda (default: {d('device')})")
    g.add_argument("--balance", type=_balance, metavar="HOW",
                   help=f"unequal trial counts: first (the first k trials of each condition), random (k drawn "
                        f"with the seed) or all (every trial; needs --pseudo-trials) (default: {d('balance')})")


def _balance(text: str):
    """``--balance all`` is the API's ``balance=False`` (every trial); other words go to the API."""
    return False if text.lower() == "all" else text


def _label_array(epochs, key, option: str):
    if key is None:
        return None
    if key not in epochs.labels:
        raise ValueError(f"{Path(epochs.source).name} has no label array {key!r} ({option}); its label arrays: "
                         f"{', '.join(epochs.label_keys) or 'none'}.")
    return epochs.labels[key]


def read_eeg_input(args) -> tuple:
    """``(eeg, labels, times, groups)`` of the EPOCHS file, as the options choose them."""
    data_key = getattr(args, "data_key", None)
    if data_key is None:
        epochs = read_epochs(args.epochs)
    else:       # checked as 3-D, with the label arrays and times of that array (not of the default one)
        path = Path(args.epochs)
        if path.suffix.lower() != ".npz":
            raise ValueError(f"--data-key applies to .npz files; {path.name} is not one.")
        if not path.exists():
            raise FileNotFoundError(f"EEG file not found: {str(path)!r}.")
        epochs = read_epochs_keys(path, data_key)
    eeg = epochs.eeg
    key = getattr(args, "labels_key", None)
    labels = _label_array(epochs, key, "--labels") if key is not None else next(iter(epochs.labels.values()))
    groups = _label_array(epochs, getattr(args, "groups_key", None), "--groups")
    return eeg, labels, epochs.times, groups


def add_eeg_rdm(subparsers) -> None:
    p = add_command(subparsers, "eeg-rdm", "a time-resolved RDM from EEG/MEG epochs", _EXAMPLES,
                    "Time-resolved RDM by cross-validated pairwise decoding (rdm_widgets.eeg_rdm), saved as "
                    "an .npz (TimeResolvedRDM.save; read it with TimeResolvedRDM.from_file). With "
                    "--generalization a train x test GeneralizationRDM. Prints the file.")
    add_epochs_arguments(p)
    p.add_argument("out", metavar="OUT", help="output .npz file")
    add_eeg_options(p)
    p.add_argument("--generalization", action="store_true", default=False,
                   help="temporal generalisation: train at every time, test at every time; OUT is then a "
                        "GeneralizationRDM (read it with GeneralizationRDM.from_file; not with --scheduler)")
    p.add_argument("--overwrite", action="store_true", default=False, help="replace an existing OUT")
    add_scheduler(p)
    add_common(p)
    p.set_defaults(run=run_eeg_rdm)


def run_eeg_rdm(args) -> int:
    out = Path(args.out)
    out = out if out.suffix == ".npz" else out.with_name(out.name + ".npz")     # as TimeResolvedRDM.save
    check_output_file(out, args.overwrite)                                   # before the run, not after it
    eeg, labels, times, groups = read_eeg_input(args)
    progress, verbose = progress_for(args, "EEG fits")
    result = eeg_rdm(eeg, labels, times=times, groups=groups, progress=progress, verbose=verbose,
                     **api_kwargs(args, EEG_OPTIONS + ("client", "generalization")))
    print(result.save(args.out, overwrite=args.overwrite))
    return EXIT_OK
