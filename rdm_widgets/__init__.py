"""rdm_widgets: Representational Dissimilarity Matrices from DNN features and EEG/MEG.

The compute core (this package) never imports ipywidgets or plotly; widgets live
in :mod:`rdm_widgets.widgets` and plotting helpers import plotly lazily.

Main entry points
-----------------
RDMCreator
    ``RDMCreator(device='cpu', verbose=False).create_rdms(feature_path, save_path, ...)``
    writes one RDM per layer of DNN features.
LayerRDM
    One RDM with its stimuli, layer name and metadata; ``LayerRDM.from_file(path).plot()``.
eeg_rdm
    Time-resolved EEG/MEG RDMs by pairwise decoding (exact vs scikit-learn's LDA).
compare_rdms, noise_ceiling, rsa_timecourse
    Representational similarity analysis.
cluster_test, group_timecourse, bootstrap_models
    Group statistics: cluster permutation tests (MNE's definitions), bootstrap inference
    over stimuli and subjects (rsatoolbox's definitions).
"""
from ._progress import Cancelled, LineProgress
from .batch import create_rdms_many
from .bootstrap import BootstrapResult, PairwiseComparison, bootstrap_compare, bootstrap_models
from .cluster import ClusterTest, GroupTimecourse, cluster_test, group_timecourse, paired_cluster_test, rsa_group_test
from .creator import RDMCreator
from .distances import available_distances, pairwise_distances, register_distance
from .eeg import (Epochs, GeneralizationRDM, TimeResolvedRDM, UnbalancedTrialsWarning, eeg_rdm, eeg_rdms,
                  read_epochs)
from .embedding import Embedding, mds
from .estimate import (CostEstimate, estimate_eeg, estimate_eeg_rdm, estimate_features, estimate_rdms,
                       estimate_tiled)
from .features import FeatureSource, open_features
from .rdm import LayerRDM, load_rdm_stack, load_rdms
from .model_rsa import RSATable, model_brain_table, rsa_timecourse_test
from .rdm_files import RDMSet, load_time_resolved_rdms, read_rdm_file
from .rsa import NoiseCeiling, RSAResult, compare_rdms, leave_one_subject_out, noise_ceiling, rsa_timecourse
from .tiled import OnDiskRDM, tiled_rdm
from ._version import __version__

__all__ = [
    "Cancelled",
    "LineProgress",
    "RDMCreator",
    "create_rdms_many",
    "LayerRDM",
    "load_rdms",
    "load_rdm_stack",
    "open_features",
    "FeatureSource",
    "pairwise_distances",
    "available_distances",
    "register_distance",
    "eeg_rdm",
    "eeg_rdms",
    "TimeResolvedRDM",
    "read_epochs",
    "UnbalancedTrialsWarning",
    "Epochs",
    "compare_rdms",
    "noise_ceiling",
    "leave_one_subject_out",
    "rsa_timecourse",
    "RSAResult",
    "NoiseCeiling",
    "model_brain_table",
    "RSATable",
    "rsa_timecourse_test",
    "read_rdm_file",
    "RDMSet",
    "CostEstimate",
    "estimate_rdms",
    "estimate_features",
    "estimate_eeg",
    "estimate_eeg_rdm",
    "estimate_tiled",
    "tiled_rdm",
    "OnDiskRDM",
    "GeneralizationRDM",
    "load_time_resolved_rdms",
    "cluster_test",
    "paired_cluster_test",
    "group_timecourse",
    "rsa_group_test",
    "ClusterTest",
    "GroupTimecourse",
    "bootstrap_models",
    "bootstrap_compare",
    "BootstrapResult",
    "PairwiseComparison",
    "mds",
    "Embedding",
    "__version__",
]
