"""Paths to the small real data sets bundled with rdm_widgets.

Provenance (all real data; see ``demo_data/README.md``):

- ``mobilenetv2_78``: torchvision ImageNet MobileNetV2 feature maps of the 78
  images of the Algonauts 2019 "78 images" set (layers ``features.6``,
  ``features.13``, ``features.18``, ``avgpool``, ``logits``; ``features.2`` is
  left out to keep the package small).
- ``minilm_sentences``: all-MiniLM-L6-v2 hidden states of 20 sentences in four
  categories, ``[seq_len, 384]`` with seq_len 9..14.
- ``eeg``: PhysioNet EEG Motor Movement/Imagery subject S001 epochs
  (180 trials x 64 channels x 161 times).
- ``net2brain_78``: the 78 stimulus images and the 15-subject fMRI RDMs of EVC
  and IT from the Net2Brain test data.
"""
from __future__ import annotations

from pathlib import Path

__all__ = ["demo_root", "demo_path", "DEMO_SETS"]

DEMO_SETS = {
    "mobilenetv2": "mobilenetv2_78",
    "minilm": "minilm_sentences",
    "eeg": "eeg/eegmmidb_S001_epochs.npz",
    "fmri_evc": "net2brain_78/brain_data/fmri_EVC_RDMs.npz",
    "fmri_it": "net2brain_78/brain_data/fmri_IT_RDMs.npz",
    "images": "net2brain_78/images",
}


def demo_root() -> Path:
    """Folder holding the bundled demo data."""
    return Path(__file__).resolve().parent / "demo_data"


def demo_path(name: str) -> Path:
    """Path of one bundled data set.

    Parameters
    ----------
    name : {'mobilenetv2', 'minilm', 'eeg', 'fmri_evc', 'fmri_it', 'images'}
        Which data set.
    """
    from ._validate import check_option

    name = check_option("name", name, DEMO_SETS)
    return demo_root() / DEMO_SETS[name]
