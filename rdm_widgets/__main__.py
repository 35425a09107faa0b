"""``python -m rdm_widgets``: the command line (:func:`rdm_widgets.cli.main`), as ``rdm-widgets``."""
from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
