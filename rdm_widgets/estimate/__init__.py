"""Cost estimates: the time, memory and disk a run will need, predicted from its sizes.

::

    est = estimate_features("features/", distance="correlation")
    print(est)              # ≈ 2 min 10 s, peak RAM 1.3 GB, disk 40 MB
    est.seconds, est.peak_bytes, est.work["flops"]

How estimates are computed
--------------------------
:func:`calibrate` times micro-benchmarks once per process (about 0.1-0.3 s): GEMMs, small
batched products, ``torch.cdist``, a sort, memory passes, writing, syncing and reading ``.npz``
files. The estimates count the work of a run and divide it by those rates, times
:func:`contention` (the machine's load: the micro-benchmarks see an idle core, a long run
shares the cores). What a rate cannot tell -- the fixed cost of a Python step per tile, per
EEG time point, per call -- is measured by running the real function on a tiny problem of
the same kind once per process (tens of milliseconds) and counted per unit:

- **DNN RDMs** (:func:`estimate_rdms`, :func:`estimate_features`): a measured fixed cost per
  call, per layer (its file written), per file opened and per array read (tiny real
  ``create_rdms`` runs on per-stimulus folders), the bytes read at the read rate, the passes over the (N, D) working copy, the
  pairwise step (``2 N^2 D`` flops per layer at the GEMM rate; manhattan and chebyshev use the
  much slower ``torch.cdist``; spearman adds a row sort; mahalanobis a ``min(N, D)^3``
  eigendecomposition), the passes over the (N, N) result and writing it. Peak RAM: the
  features held at once (largest pass or layer) + the working copy unless it is made in place
  + the (N, N) result + a (chunk, N) block + what the distance stores. Disk: one ``.npz`` per
  layer (N^2 values and the stimulus names). Built-in distances over several row blocks compute
  one triangle of the symmetric product (``_distance_triangle.product_fraction``). Time-resolved
  runs (``multi_timepoint_rdms``) count one RDM per clip / time point and the (N, N, T) result;
  ``dim_reduction`` adds the fit (PCA: the seeded sample read again and its eigendecomposition;
  SRP: drawing the sparse matrix), the projection of every block, and prices the distances at
  the reduced width the reducer itself chooses (never wider than the layer).
- **Tiled RDMs** (:func:`estimate_tiled`): the tiles, staging reads and overview levels of
  :func:`rdm_widgets.tiled_rdm`'s own plan (:mod:`rdm_widgets.tiled._plan`): a measured fixed
  cost per run and per tile (each tile is written durably and recorded before the next: with
  ``tile_size=8`` this is nearly all of the time), the per-tile bookkeeping that grows with the
  number of tiles, the features read once and written staged, both blocks of every tile read
  back, ``2 tile^2 D`` flops per tile, the condensed values and overview levels written. Peak
  RAM is bounded by the tile, whatever N.
- **EEG decoding** (:func:`estimate_eeg`, :func:`estimate_eeg_rdm`): fits = pairs x time points
  x folds x permutations (``eeg_rdm``'s progress total). The seconds per time point depend on
  the method, the regime of the exact LDA kernel (see :mod:`rdm_widgets.eeg._lda`), the noise
  normalisation and the thread count far more than a flop count can tell, so they are
  measured by running the real ``eeg_rdm`` on tiny problems with the same options, channels
  and trials per condition, in one thread (2 and 6 conditions: a time point costs ``a`` per
  condition + ``b`` per pair; cached per process), plus a fixed cost per call; the passes over
  the input epochs are priced at the fresh-memory rate. With several torch threads the work
  is divided by a modelled speed-up: Amdahl's law with the regime's measured parallel share
  over the balance of the run's blocks of pair-times (exact LDA) or folds (per-fold LDA) on
  the threads (:mod:`rdm_widgets.estimate._eeg_units`). Temporal generalisation
  (``generalization=True``) adds, per permutation, a cost per training time and pair (a weight
  solve; distances: per condition) and per training time, test time and pair (a decision or
  Gram entry), measured the same way on 2-condition runs.

Estimates aim at a factor 2 (0.5-2x, measured for every kind of job in ``BENCHMARKS.md``,
"Cost estimates"). Other jobs on the same cores and disks make the measurements noisy
(``calibrate(refresh=True)`` measures the rates again); cold or network disks read slower, and
a store on a slower disk than the temporary folder syncs its tiles slower. Memory
is what the run allocates on top of what the process holds; sizes are decimal (1 GB = 10^9 B).

Every estimate resolves its options with the function of the run it estimates, so it refuses
what the run refuses. Modules: :mod:`rdm_widgets._cost` (:class:`CostEstimate`,
:func:`calibrate`; shared with the EEG estimates), ``_dnn`` (:func:`estimate_rdms`,
:func:`estimate_features`), ``_tiled`` (:func:`estimate_tiled`) and the EEG estimates
(:func:`estimate_eeg`, :func:`estimate_eeg_rdm`).
"""
from .._cost import CostEstimate, calibrate, contention, format_bytes
from ._eeg import estimate_eeg, estimate_eeg_rdm
from ._dnn import estimate_features, estimate_rdms
from ._tiled import estimate_tiled

__all__ = ["CostEstimate", "calibrate", "contention", "format_bytes", "estimate_rdms", "estimate_features",
           "estimate_tiled",
           "estimate_eeg", "estimate_eeg_rdm"]
