"""model_brain_table reports progress during the work and stops within one block on Cancelled.

Acceptance finding: with 1 model x 1 brain the table called ``progress`` once, after the whole
(brain, model) pair (3 layers x 100,000 permutations: 6.5 s), so the dashboard's bar jumped
0 -> 100 % and Stop waited for the pair. Real data: the bundled 15-subject fMRI RDMs of 78 images
(Cichy et al. 2019 via Net2Brain). Work is counted (permutations drawn from a counting
generator), never timed. The numbers are checked against one ``compare_rdms`` call per row.
"""
from __future__ import annotations

import numpy as np
import pytest

from rdm_widgets import Cancelled
from rdm_widgets._rsa_progress import compare_in_blocks, permutation_block
from rdm_widgets.model_rsa import model_brain_table
from rdm_widgets.rdm import LayerRDM
from rdm_widgets.rdm_files import RDMSet, bundled_brain_rdms
from rdm_widgets.rsa import compare_rdms

N_PERM = 7000           # > 2 blocks of 78 stimuli, with a remainder


class CountingGenerator(np.random.Generator):
    """numpy's Generator (same stream as default_rng(seed)) that counts permutations drawn."""

    def __init__(self, seed):
        # spawn() (the table seeds its bootstrap with one) builds this class from a bit generator
        super().__init__(seed if isinstance(seed, np.random.BitGenerator) else np.random.PCG64(seed))
        self.drawn = 0

    def permutation(self, x, axis=0):
        self.drawn += 1
        return super().permutation(x, axis)


@pytest.fixture(scope="module")
def fmri():
    """Real EVC stack (15, 78, 78) and three real 'model' RDMs: IT subject RDMs and the IT mean."""
    brains = bundled_brain_rdms()
    evc, it = brains["EVC"], brains["IT"]
    layers = {"it_mean": LayerRDM(it.rdms.mean(axis=0), it.stimuli, "it_mean"),
              "it_s0": LayerRDM(it.rdms[0], it.stimuli, "it_s0"),
              "it_s1": LayerRDM(it.rdms[1], it.stimuli, "it_s1")}
    return layers, evc


def _check_calls(calls):
    totals = {t for _, t in calls}
    assert len(totals) == 1, calls                      # one total, known from the first call on
    total = totals.pop()
    done = [d for d, _ in calls]
    assert done[0] == 0 and done[-1] == total and done == sorted(done)
    return total, done


def test_progress_moves_during_each_row_of_one_pair(fmri):
    layers, evc = fmri
    calls = []
    model_brain_table({"net": layers}, {"EVC": evc}, n_permutations=N_PERM, random_state=0,
                      progress=lambda d, t: calls.append((d, t)))
    total, done = _check_calls(calls)
    inside = [d for d in done if 0 < d < total]
    # old code: a single call (3, 3) at the end of the pair
    assert len(inside) >= 3 * (N_PERM // permutation_block(78)), calls
    assert min(inside) < total / 3                       # the first row moves the bar before it ends


def test_cancel_stops_within_one_block(fmri):
    layers, evc = fmri
    gen = CountingGenerator(0)
    seen = []

    def stop_after_first_update(d, t):
        seen.append((d, gen.drawn))
        if d > 0:
            raise Cancelled

    with pytest.raises(Cancelled):
        model_brain_table({"net": layers}, {"EVC": evc}, n_permutations=N_PERM, random_state=gen,
                          progress=stop_after_first_update)
    (d0, drawn0), (d1, drawn1) = seen                    # the start, then the first update
    assert drawn0 == 0
    assert drawn1 == gen.drawn <= permutation_block(78) < N_PERM   # old code: 3 * N_PERM drawn


def test_cancel_during_the_bootstrap_of_a_pair(fmri):
    layers, evc = fmri
    calls = []

    def stop_in_bootstrap(d, t):
        calls.append((d, t))
        if d > len(layers):                              # past the rows (no permutations): bootstrap
            raise Cancelled

    with pytest.raises(Cancelled):
        model_brain_table({"net": layers}, {"EVC": evc}, n_permutations=0, bootstrap="stimuli",
                          n_bootstrap=300, progress=stop_in_bootstrap)
    d, t = calls[-1]
    assert len(layers) < d < t                           # stopped in the middle of the bootstrap


def test_p_values_equal_one_compare_rdms_call_per_row_to_the_bit(fmri):
    layers, evc = fmri
    brain = RDMSet(evc.rdms.mean(axis=0), evc.stimuli, "EVC mean")     # one RDM: p is compare_rdms's p
    for method in ("spearman", "pearson"):
        calls = []
        tab = model_brain_table({"net": layers}, {"EVC mean": brain}, method=method, n_permutations=N_PERM,
                                random_state=5, progress=lambda d, t: calls.append((d, t)))
        _check_calls(calls)
        rng = np.random.default_rng(5)                   # the table's one generator, row after row
        for row in tab.rows:
            ref = compare_rdms(layers[row["layer"]].matrix, brain.rdms[0], method=method,
                               n_permutations=N_PERM, random_state=rng)
            assert row["r"] == ref.r and row["p_permutation"] == ref.p == row["p"]


@pytest.mark.parametrize("n_perm", [1, permutation_block(78), permutation_block(78) + 1])
def test_blocks_give_the_null_of_one_call(fmri, n_perm):
    layers, evc = fmri
    a, b = layers["it_mean"].matrix, evc.rdms[3]
    ticks = []
    got = compare_in_blocks(a, b, "spearman", n_perm, np.random.default_rng(9), ticks.append)
    ref = compare_rdms(a, b, method="spearman", n_permutations=n_perm, random_state=9)
    assert got.r == ref.r and got.p == ref.p and np.array_equal(got.null, ref.null)
    assert sum(ticks) == n_perm and max(ticks) <= permutation_block(78)


def test_skipped_pair_still_reaches_the_total_and_callback_errors_are_not_skips(fmri):
    layers, evc = fmri
    other = RDMSet(evc.rdms[:, :10, :10], [f"x{i}" for i in range(10)], "other")   # names match no model
    calls = []
    tab = model_brain_table({"net": layers}, {"other": other, "EVC": evc}, n_permutations=10,
                            on_error="skip", progress=lambda d, t: calls.append((d, t)))
    _check_calls(calls)
    assert len(tab.skipped) == 1 and tab.brains == ["EVC"]

    def broken(d, t):
        if d > 0:
            raise ValueError("bug in the callback")

    with pytest.raises(ValueError, match="bug in the callback"):      # raised, not a skipped pair
        model_brain_table({"net": layers}, {"EVC": evc}, n_permutations=10, on_error="skip", progress=broken)
