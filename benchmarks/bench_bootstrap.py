"""Benchmark: bootstrap of model-brain correlations, rdm_widgets vs rsatoolbox 0.3.2.

The real data of the package: MobileNetV2's 5 bundled layers against the 15-subject fMRI IT RDMs
(78 images), Spearman. Side by side in one run, per ``over``:

- ``ours``: ``bootstrap_models(..., n_bootstrap=B)`` with the noise ceiling's samples, and without
  (``noise_ceiling_samples=False``, what ``model_brain_table(bootstrap=...)`` uses);
- ``rsatoolbox``: ``eval_bootstrap_pattern`` / ``eval_bootstrap_rdm`` / ``eval_dual_bootstrap``
  with ``ModelFixed`` models (noise ceiling always bootstrapped). It loops in Python over samples;
  it is timed on ``--rsatoolbox-samples`` samples and **extrapolated linearly** to B (stated so in
  the table).

Usage::

    python benchmarks/bench_bootstrap.py                    # B = 1000, rsatoolbox on 50 samples
    python benchmarks/bench_bootstrap.py --quick            # B = 200, rsatoolbox on 20 samples

Results (ratios) go to ``benchmarks/results/bootstrap.md``.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from rdm_widgets.bootstrap import bootstrap_models  # noqa: E402
from rdm_widgets.creator import RDMCreator  # noqa: E402
from rdm_widgets.demo import demo_path  # noqa: E402
from rdm_widgets.rdm_files import bundled_brain_rdms  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "bootstrap.md"


def _rsatoolbox(model, brain):
    import rsatoolbox.inference.evaluate as ev
    from rsatoolbox.model import ModelFixed
    from rsatoolbox.rdm import RDMs

    class _Quiet:                                   # no tqdm bar in the timings
        def __init__(self, n):
            self.n = n

        def __iter__(self):
            return iter(range(self.n))

    ev.tqdm.trange = _Quiet
    iu = np.triu_indices(brain.n_stimuli, 1)
    models = [ModelFixed(layer, RDMs(rdm.matrix[iu][None])) for layer, rdm in model.items()]
    data = RDMs(brain.rdms[:, iu[0], iu[1]])
    funcs = {"stimuli": lambda n: ev.eval_bootstrap_pattern(models, data, method="spearman", N=n),
             "subjects": lambda n: ev.eval_bootstrap_rdm(models, data, method="spearman", N=n),
             "both": lambda n: ev.eval_dual_bootstrap(models, data, method="spearman", N=n)}
    return funcs


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rsatoolbox-samples", type=int, default=None)
    args = ap.parse_args(argv)
    B = 200 if args.quick else 1000
    n_ref = args.rsatoolbox_samples or (20 if args.quick else 50)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = RDMCreator().compute_rdms(demo_path("mobilenetv2"))
    brain = bundled_brain_rdms()["IT"]
    try:
        ref = _rsatoolbox(model, brain)
    except ImportError:
        ref = None
    lines = [f"## Bootstrap of model-brain correlations (`bench_bootstrap.py`{' --quick' if args.quick else ''})",
             "",
             f"{len(model)} MobileNetV2 layers x {brain.n_subjects} subjects x {brain.n_stimuli} stimuli "
             f"(bundled fMRI IT RDMs), Spearman, B = {B} samples; {platform.processor() or platform.machine()}, "
             f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}. rsatoolbox timed on {n_ref} samples and "
             "extrapolated linearly to B.",
             "",
             "| over | ours, with noise-ceiling samples | ours, without | rsatoolbox (extrapolated) | ratio |",
             "|---|---|---|---|---|"]
    for over in ("stimuli", "subjects", "both"):
        t0 = time.perf_counter()
        bootstrap_models(model, brain, over=over, n_bootstrap=B)
        t_nc = time.perf_counter() - t0
        t0 = time.perf_counter()
        bootstrap_models(model, brain, over=over, n_bootstrap=B, noise_ceiling_samples=False)
        t_plain = time.perf_counter() - t0
        if ref is not None:
            t0 = time.perf_counter()
            ref[over](n_ref)
            t_ref = (time.perf_counter() - t0) * B / n_ref
            cells = f"{t_ref:.1f} s | {t_ref / t_nc:.0f}x"
        else:
            cells = "(not installed) | -"
        lines.append(f"| {over} | {t_nc:.2f} s | {t_plain:.2f} s | {cells} |")
        print(lines[-1], flush=True)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text("\n".join(lines) + "\n")
    print(f"written {RESULTS}")


if __name__ == "__main__":
    main()
