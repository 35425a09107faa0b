"""The command line: ``rdm-widgets <command> ...`` (also ``python -m rdm_widgets``).

Every command is a thin layer over the public API -- it parses options, calls one function and
prints where the result went; it computes nothing itself:

=============  ==================================================================
create-rdms    :meth:`rdm_widgets.RDMCreator.create_rdms`           (:mod:`._dnn`)
tiled-rdm      :func:`rdm_widgets.tiled_rdm`                         (:mod:`._dnn`)
eeg-rdm        :func:`rdm_widgets.eeg_rdm` -> ``TimeResolvedRDM.save`` (:mod:`._eeg`)
compare        :func:`rdm_widgets.model_brain_table` -> ``.to_csv``  (:mod:`._compare`)
estimate       :mod:`rdm_widgets.estimate`                           (:mod:`._estimate`)
dashboard      ``voila notebooks/dashboard.ipynb``                   (:mod:`._dashboard`)
=============  ==================================================================

Exit codes: 0 success, 1 an error of the run (bad path, option value the API refuses, file
exists, ...: one line ``rdm-widgets: error: <message>`` on stderr; ``--debug`` shows the
traceback), 2 a usage error (unknown option, missing argument), 130 interrupted (Ctrl+C).
Progress goes to stderr: a tqdm bar on a terminal, plain time-stamped lines with the ETA
otherwise (:class:`rdm_widgets._progress.LineProgress`); results and paths go to stdout.
See ``docs/cli.md``.
"""
from __future__ import annotations

import sys
import traceback

from .._version import __version__
from ._common import (EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, PROG, USER_ERRORS, Formatter, Parser,
                      cli_warnings, one_line)
from ._compare import add_compare
from ._dashboard import add_dashboard
from ._dnn import add_create_rdms, add_tiled_rdm
from ._eeg import add_eeg_rdm
from ._estimate import add_estimate

__all__ = ["main", "build_parser", "COMMANDS"]

#: the subcommands, in the order ``--help`` lists them: name -> function adding its parser
COMMANDS = {
    "create-rdms": add_create_rdms,
    "eeg-rdm": add_eeg_rdm,
    "tiled-rdm": add_tiled_rdm,
    "compare": add_compare,
    "estimate": add_estimate,
    "dashboard": add_dashboard,
}

_EXAMPLES = """\
examples:
  rdm-widgets create-rdms features/alexnet rdms/alexnet --distance correlation
  rdm-widgets eeg-rdm sub-01_epochs.npz rdms/sub-01_eeg.npz --method lda --decim 2
  rdm-widgets compare rdms/alexnet brain/fmri_EVC_RDMs.npz --out alexnet_vs_evc.csv
  rdm-widgets estimate features features/alexnet
  rdm-widgets dashboard /data/my_study

in a SLURM job script (progress is written as plain lines with an ETA to the job log):
  srun rdm-widgets create-rdms /scratch/feats/alexnet /scratch/rdms/alexnet --device cuda

'rdm-widgets <command> --help' shows a command's options and examples.
exit codes: 0 done, 1 error (one line on stderr; --debug for the traceback), 2 usage, 130 interrupted.
"""


def build_parser() -> Parser:
    """The ``rdm-widgets`` argument parser with every subcommand of :data:`COMMANDS`."""
    parser = Parser(prog=PROG, formatter_class=Formatter, epilog=_EXAMPLES,
                    description="Representational dissimilarity matrices from DNN features and EEG/MEG,\n"
                                "from the command line (batch jobs, clusters).")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    subparsers = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND", required=True,
                                       parser_class=Parser)
    for add in COMMANDS.values():
        add(subparsers)
    return parser


def main(argv=None) -> int:
    """Run ``rdm-widgets`` with ``argv`` (default ``sys.argv[1:]``); returns the exit code.

    Parameters
    ----------
    argv : list of str or None

    Returns
    -------
    int
        0 done, 1 an error of the run, 2 a usage error, 130 interrupted.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:                       # --help, --version, usage errors
        return stop.code if isinstance(stop.code, int) else EXIT_OK if stop.code is None else EXIT_ERROR
    try:
        with cli_warnings(getattr(args, "options", dict)()):
            return args.run(args)
    except KeyboardInterrupt:
        sys.stderr.write(f"\n{PROG}: interrupted\n")
        return EXIT_INTERRUPTED
    except USER_ERRORS as err:
        if args.debug:
            traceback.print_exc()
        sys.stderr.write(f"{PROG}: error: {one_line(err, args.options())}\n")
        return EXIT_ERROR
