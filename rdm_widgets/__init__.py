"""rdm_widgets: Representational Dissimilarity Matrices from DNN features and EEG/MEG.

The compute core (this package) never imports ipywidgets or plotly; widgets live
in :mod:`rdm_widgets.widgets` and plotting helpers import plotly lazily.
"""
from ._progress import Cancelled

__version__ = "0.1.0"

__all__ = ["Cancelled", "__version__"]
