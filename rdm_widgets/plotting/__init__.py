"""Plotly figure builders for RDMs, time courses, model comparisons, MDS and dendrograms.

plotly is imported inside the functions only, so that ``import rdm_widgets``
stays light and UI-free. Widgets show figures in an ``ipywidgets.Output`` with
:func:`figure_mime_bundle`, which works from background threads and in Voila.

Large RDMs: a 10 000 x 10 000 heatmap is 10^8 cells, far more than a browser
can draw, so above ``max_display`` stimuli the matrix is reduced to block
means of k x k stimuli (``k = ceil(N / max_display)``; the last block may be
smaller) and the hover text shows the stimulus range of each block.

Modules: ``_figures`` (heatmaps, config, MIME bundle), ``_timecourses`` (lines, ± bands,
significant spans, group means, RSA per layer), ``_models`` (model comparison bars),
``_embedding`` (MDS scatter, dendrogram), ``_generalization`` (train × test maps), ``_model_time``
(time-resolved model RDMs and model time × brain time maps), ``_inputs`` (numpy-only input handling).
"""
from ._embedding import dendrogram_figure, mds_figure
from ._figures import IMAGE_FORMATS, figure_config, figure_mime_bundle, rdm_heatmap, window_heatmap
from ._generalization import generalization_figure
from ._model_time import model_brain_time_figure, model_time_labels, model_time_rdm_figure
from ._models import model_comparison_figure
from ._timecourses import group_timecourse_figure, mask_spans, rsa_timecourse_figure, timecourse_figure

__all__ = ["rdm_heatmap", "window_heatmap", "timecourse_figure", "figure_mime_bundle", "figure_config",
           "model_comparison_figure", "rsa_timecourse_figure", "IMAGE_FORMATS", "group_timecourse_figure",
           "mask_spans", "mds_figure", "dendrogram_figure", "generalization_figure", "model_time_rdm_figure",
           "model_brain_time_figure", "model_time_labels"]
