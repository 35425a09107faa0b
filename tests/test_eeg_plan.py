"""Options and plan of eeg_rdm (rdm_widgets.eeg.check_eeg_options / plan_eeg_rdm / plan_eeg_sizes)."""
import dataclasses

import numpy as np
import pytest
import torch

from rdm_widgets import Cancelled
from rdm_widgets.eeg import (METHODS, EEGOptions, check_eeg_options, eeg_rdm, plan_eeg_rdm, plan_eeg_sizes)


def _data(n_cond=4, k=6, C=5, T=11, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n_cond * k, C, T)), np.repeat(np.arange(n_cond), k)


def test_options_are_resolved_once_and_frozen():
    opts = check_eeg_options(method="CrossNobis", cv=3)
    assert isinstance(opts, EEGOptions) and opts.method == "crossnobis"
    assert opts.noise_normalization == "epoch" and not opts.is_lda and opts.chance == 0.0
    assert opts.device == torch.device("cpu") and not opts.fast_loo and opts.min_units == 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        opts.method = "lda"
    lda = check_eeg_options(shrinkage=1, random_state=np.int64(3))
    assert lda.fast_loo and lda.min_units == 3 and lda.shrinkage == 1.0 and type(lda.random_state) is int
    assert check_eeg_options(pseudo_trials=3).min_units == 2
    assert [m for m in METHODS] == ["lda", "lda_shrinkage", "cv_euclidean", "crossnobis"]
    assert METHODS["lda"].chance == METHODS["lda"][1] == 0.5


def test_device_rule_is_the_shared_one():
    x, y = _data()
    with pytest.raises(ValueError, match=r"Invalid value for 'device': 'mps'.*\['cpu', 'cuda'\]"):
        eeg_rdm(x, y, device="mps")
    with pytest.raises(ValueError, match="Invalid value for 'device'"):
        check_eeg_options(device="tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            plan_eeg_rdm(x, y, device="cuda")


@pytest.mark.parametrize("options", [dict(), dict(decim=3), dict(method="cv_euclidean", cv=3, window=4, decim=2),
                                     dict(method="lda_shrinkage", pseudo_trials=4, n_permutations=3,
                                          random_state=1)])
def test_plan_counts_what_eeg_rdm_does(options):
    x, y = _data()
    totals = []

    def stop(done, total):
        totals.append(total)
        raise Cancelled

    with pytest.raises(Cancelled):
        eeg_rdm(x, y, progress=stop, **options)
    plan = plan_eeg_rdm(x, y, **options)
    assert plan.fits == totals[0] and plan.n_pairs == 6 and plan.n_conditions == 4 and plan.k == 6
    result = eeg_rdm(x, y, **options)
    assert result.shape == (4, 4, plan.n_times_out) and result.meta["n_folds"] == plan.n_folds
    if plan.options.random_state is not None:
        assert result.meta["seed"] == plan.seed == options["random_state"]
    sizes = plan_eeg_sizes(4, 6, 5, 11, **options)
    assert (sizes.fits, sizes.n_units, sizes.n_folds, sizes.regime) == (plan.fits, plan.n_units, plan.n_folds,
                                                                         plan.regime)
    assert sizes.design is None and plan.design.conditions == [0, 1, 2, 3]


def test_plan_reads_shapes_not_values():
    x, y = _data(C=12)                           # 2k-2 = 10 <= 12 channels: rank deficient
    x[2, 1, 3] = np.nan
    plan = plan_eeg_rdm(x, y)                    # the run finds the NaN, the plan does not look
    assert plan.regime == "rank_deficient" and plan.average_reference is None
    with pytest.raises(ValueError, match="trial 2, channel 1, time index 3"):
        eeg_rdm(x, y)
    assert plan_eeg_rdm(x[:, :, 0], y).n_times == 1          # 2-D: one time point
    with pytest.raises(ValueError, match="1-D"):
        plan_eeg_rdm(x[:, 0, 0], y)


def test_regime_follows_the_average_reference():
    x, y = _data(n_cond=3, k=8, C=6, T=4)                  # 2k-4 = 12 >= 6: full rank
    assert plan_eeg_rdm(x, y).regime == "full_rank"
    avg = x - x.mean(axis=1, keepdims=True)
    plan = plan_eeg_rdm(torch.from_numpy(avg), torch.from_numpy(y))
    assert plan.regime == "average_reference" and plan.average_reference is True
    assert plan.block_pair_times > 0 and plan.bytes_per_pair_time > 0
    assert plan_eeg_rdm(avg, y, method="lda_shrinkage").regime == "per_fold_lsqr"
    assert plan_eeg_sizes(3, 8, 6, 4, average_reference=True).regime == "average_reference"


def test_size_rules_have_one_wording():
    x, y = _data(k=5)
    for plan in (lambda **o: plan_eeg_rdm(x, y, **o), lambda **o: plan_eeg_sizes(4, 5, 5, 11, **o)):
        with pytest.raises(ValueError, match="pseudo_trials=9 exceeds the 5 trials of"):
            plan(pseudo_trials=9)
        with pytest.raises(ValueError, match="cv=7 folds but only 5 trials used per condition"):
            plan(cv=7)
        with pytest.raises(ValueError, match="window=30 is longer than the 11 time points"):
            plan(window=30)
        with pytest.raises(ValueError, match="LDA needs at least 3 pseudo-trials"):
            plan(pseudo_trials=2)
    with pytest.raises(ValueError, match="'k'"):
        plan_eeg_sizes(4, 2, 5, 11)
    assert plan_eeg_sizes(4, 2, 5, 11, method="cv_euclidean").n_folds == 2
