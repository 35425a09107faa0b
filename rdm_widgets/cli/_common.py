"""What every subcommand shares: the parser class, options, progress, errors, warnings.

Why this module exists: the subcommands are thin layers over the public API; this module holds
the few things that are the command line's own -- how an argument string becomes the API's
value, how progress is shown (a tqdm bar on a terminal, :class:`LineProgress` lines in a job
log), and how an error becomes one line and an exit code.
"""
from __future__ import annotations

import argparse
import inspect
import re
import sys
import textwrap
import warnings

from .._progress import LineProgress

__all__ = ["PROG", "EXIT_OK", "EXIT_ERROR", "EXIT_USAGE", "EXIT_INTERRUPTED", "USER_ERRORS", "Parser",
           "Formatter", "add_command", "add_common", "add_scheduler", "api_default", "api_kwargs",
           "progress_for", "split_list", "int_or_str", "float_or_str", "one_line", "option_names", "cli_warnings",
           "check_output_file"]

PROG = "rdm-widgets"
EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
#: exceptions of the API that mean "the user asked for something that cannot be done"
USER_ERRORS = (ValueError, TypeError, OSError, ImportError, IndexError, RuntimeError)


class Formatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the examples of the epilog as written."""

    def __init__(self, prog, **kwargs):
        kwargs.setdefault("max_help_position", 32)
        super().__init__(prog, **kwargs)


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one line: ``rdm-widgets: error: ...``."""

    def error(self, message):
        self.exit(EXIT_USAGE, f"{PROG}: error: {message} (see '{self.prog} --help')\n")


def add_command(subparsers, name: str, help: str, examples: str, description: str = "") -> Parser:
    """A subcommand whose options default to "not given" (the API's defaults then apply)."""
    return subparsers.add_parser(name, help=help, description=textwrap.fill(description or help, 90),
                                 epilog="examples:\n" + examples, formatter_class=Formatter,
                                 argument_default=argparse.SUPPRESS)


def add_common(parser: Parser, progress: bool = True) -> None:
    """``--quiet``, ``--progress-interval`` (when the command reports progress) and ``--debug``."""
    group = parser.add_argument_group("output")
    if progress:
        group.add_argument("-q", "--quiet", action="store_true", default=False,
                           help="no progress output")
        group.add_argument("--progress-interval", type=float, default=10.0, metavar="SECONDS",
                           help="least seconds between two progress lines when the output is not a "
                                "terminal (default: 10)")
    group.add_argument("--debug", action="store_true", default=False,
                       help="show the full traceback of an error")
    parser.set_defaults(options=lambda: option_names(parser))


def add_scheduler(parser: Parser) -> None:
    parser.add_argument("--scheduler", metavar="ADDRESS", dest="client",
                        help="run on a Dask cluster: the scheduler's address, e.g. tcp://10.0.0.5:8786 "
                             "(needs rdm_widgets[distributed]; paths must be readable on the workers)")


def api_default(funcs, name: str):
    """The default of parameter ``name`` of the first of ``funcs`` (a callable or a tuple) that
    has it (shown in ``--help``; the one home of a default is the API)."""
    for func in funcs if isinstance(funcs, tuple) else (funcs,):
        param = inspect.signature(func).parameters.get(name)
        if param is not None:
            return param.default
    raise KeyError(f"no parameter {name!r} in {funcs}")


def api_kwargs(args: argparse.Namespace, names) -> dict:
    """The options the user gave among ``names`` (the others keep the API's defaults)."""
    given = vars(args)
    return {n: given[n] for n in names if n in given}


def progress_for(args: argparse.Namespace, desc: str, bar: bool = True) -> tuple:
    """``(progress, verbose)`` for an API call.

    On a terminal (stderr) the API's tqdm bar (``verbose=True``; only when ``bar``: the API
    has one); otherwise (a job log, a pipe) a :class:`rdm_widgets._progress.LineProgress`
    writing lines to stderr; ``--quiet`` neither.
    """
    if getattr(args, "quiet", False):
        return None, False
    if bar and sys.stderr.isatty():
        return None, True
    return LineProgress(desc, interval=args.progress_interval), False


def check_output_file(out, overwrite: bool) -> None:
    """Refuse an output file that exists (without ``--overwrite``) or whose folder is missing,
    before the run: the API's atomic write would refuse it only after the computation."""
    if out.exists() and not overwrite:
        raise FileExistsError(f"{str(out)!r} exists; pass --overwrite to replace it.")
    if not out.parent.is_dir():
        raise FileNotFoundError(f"Folder {str(out.parent)!r} does not exist; create it first.")


def split_list(text: str) -> list:
    """``"a,b , c"`` -> ``['a', 'b', 'c']`` (an option given twice: see ``action='extend'``)."""
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise argparse.ArgumentTypeError(f"expected a comma-separated list, got {text!r}")
    return items


def int_or_str(text: str):
    """``"5"`` -> 5, anything else stays text (the API validates it: ``--cv loo``)."""
    try:
        return int(text)
    except ValueError:
        return text


def float_or_str(text: str):
    """``"0.1"`` -> 0.1, anything else stays text (``--shrinkage auto``)."""
    try:
        return float(text)
    except ValueError:
        return text


def option_names(parser: argparse.ArgumentParser) -> dict:
    """``{API keyword: (option flag, its action)}`` of a command's options (``client`` -> ``--scheduler``)."""
    return {a.dest: (a.option_strings[-1], a) for a in parser._actions
            if a.option_strings and a.dest not in ("help", "version")}


#: API values that the command line spells differently: {API keyword: {API value: option word}}
_CLI_VALUES = {"balance": {"False": "all"}}
_QUOTED = re.compile(r"'([^'\s]+)'")


def _in_cli_words(text: str, options: dict) -> str:
    """Name the command's options where the API's message names its keywords:
    ``overwrite=True`` -> ``--overwrite``, ``Invalid value for 'client'`` -> ``... for --scheduler``."""
    for dest, (flag, action) in options.items():
        if action.const is False:                          # a store_false flag (--no-resume)
            text = re.sub(rf"\b[Pp]ass {re.escape(dest)}=True", f"leave out {flag}", text)
        text = re.sub(rf"\b{re.escape(dest)}=(True|\.\.\.)", flag, text)
        text = re.sub(rf"\b([Pp])ass {re.escape(dest)}=None\b",
                      lambda m: f"{'L' if m.group(1) == 'P' else 'l'}eave out {flag}", text)
        for api, word in _CLI_VALUES.get(dest, {}).items():          # balance=False -> --balance all
            text = re.sub(rf"\b{re.escape(dest)}={api}\b", f"{flag} {word}", text)
        # pooling='mean' -> --pooling mean, pooling='mean', 'max' or 'last' -> --pooling mean|max|last,
        # pseudo_trials=K -> --pseudo-trials K (a placeholder)
        text = re.sub(rf"\b{re.escape(dest)}=('[^'\s]+'(?:, '[^'\s]+')*(?: or '[^'\s]+')?)",
                      lambda m: f"{flag} {'|'.join(_QUOTED.findall(m.group(1)))}", text)
        text = re.sub(rf"\b{re.escape(dest)}=([A-Z])\b", lambda m: f"{flag} {m.group(1)}", text)
        text = re.sub(rf"(Invalid (?:value|type) for )'{re.escape(dest)}'", rf"\g<1>{flag}", text)
    return text


def one_line(err: BaseException, options: dict | None = None) -> str:
    """The message of ``err`` on one line (the file name of an ``OSError`` included), naming the
    command's options (:func:`option_names`) where the API's message names its keywords."""
    text = str(err)
    if isinstance(err, OSError) and err.filename is not None and err.strerror:
        text = f"{err.strerror}: {str(err.filename)!r}"
    if isinstance(err, ImportError) and not text:
        text = f"cannot import {err.name}"
    text = " ".join(text.split()) or type(err).__name__
    return _in_cli_words(text, options or {})


class cli_warnings:
    """Show Python warnings as ``rdm-widgets: warning: <message>`` lines on stderr (no source line),
    naming the command's options (:func:`option_names`) where the message names the API's keywords."""

    def __init__(self, options: dict | None = None):
        self._options = options or {}

    def __enter__(self):
        self._saved = warnings.showwarning
        warnings.showwarning = self._show
        return self

    def _show(self, message, category, filename, lineno, file=None, line=None):
        stream = file if file is not None else sys.stderr
        stream.write(f"{PROG}: warning: {_in_cli_words(' '.join(str(message).split()), self._options)}\n")
        stream.flush()

    def __exit__(self, *exc):
        warnings.showwarning = self._saved
        return False

