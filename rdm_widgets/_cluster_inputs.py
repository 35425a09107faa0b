"""Group-test inputs: subjects' results (or arrays) -> one subjects x samples matrix.

Why this module exists: a group test needs the same samples (times, or train x test times) in
every subject, no NaN, and one chance level. Results of :func:`rdm_widgets.eeg.eeg_rdms`
(``TimeResolvedRDM``), temporal generalisation results (``GeneralizationRDM``: ``mean_map()``,
``train_times``, ``test_times``) and plain arrays are recognised by their attributes, so the
statistics never import the EEG package (torch). Every error names the subjects concerned.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from ._rsa_stats import listed

__all__ = ["GroupData", "group_data", "is_time_resolved", "is_generalization", "check_finite_group"]


@dataclass(frozen=True, eq=False)
class GroupData:
    """X (n_subjects, n_times) or (n_subjects, n_train, n_test) with its axes and provenance."""
    X: np.ndarray
    subjects: list
    times: Optional[np.ndarray]
    test_times: Optional[np.ndarray]
    chance: Optional[float]            # the results' meta['chance'] (None: arrays)
    label: str


def is_time_resolved(x) -> bool:
    """A TimeResolvedRDM (or look-alike): ``mean_timecourse()`` and ``times``."""
    return hasattr(x, "mean_timecourse") and hasattr(x, "times")


def is_generalization(x) -> bool:
    """A GeneralizationRDM (or look-alike): ``mean_map()``, ``train_times``, ``test_times``."""
    return hasattr(x, "mean_map") and hasattr(x, "train_times") and hasattr(x, "test_times")


def _span(t) -> str:
    t = np.asarray(t)
    return f"{t.size} times ({t[0]:.4g}..{t[-1]:.4g})" if t.size else "0 times"


def _same_axis(name: str, axes: dict) -> Optional[np.ndarray]:
    """The one axis shared by every subject, else a ValueError listing who differs."""
    first = next(iter(axes))
    ref = np.asarray(axes[first], dtype=np.float64)
    odd = [s for s, t in axes.items() if np.asarray(t).shape != ref.shape or not np.allclose(t, ref, rtol=0,
                                                                                             atol=1e-9)]
    if odd:
        shown = "; ".join(f"{s!r}: {_span(axes[s])}" for s in odd[:6])
        raise ValueError(
            f"The subjects' {name} differ: {first!r} has {_span(ref)}, but {shown}"
            + (f" ({len(odd)} subjects differ in all)" if len(odd) > 6 else "")
            + ". A group test compares the same samples in every subject: compute every subject with "
              "the same times (eeg_rdms(..., times=..., window=..., decim=...)) or crop them first.")
    return ref


def _meta(result) -> dict:
    return dict(getattr(result, "meta", None) or {})


def _chance(results: dict) -> Optional[float]:
    chances = {s: _meta(r).get("chance") for s, r in results.items()}
    known = {s: c for s, c in chances.items() if c is not None}
    if not known:
        return None
    if len(set(known.values())) > 1 or len(known) != len(chances):
        raise ValueError(f"The subjects' results have different chance levels (meta['chance']): {chances}. "
                         "Compute them with the same method, or pass chance= explicitly.")
    return float(next(iter(known.values())))


def _label(results: dict, default: str) -> str:
    labels = {str(_meta(r).get("dissimilarity", default)) for r in results.values()}
    return labels.pop() if len(labels) == 1 else default


def group_data(data, *, times=None, test_times=None, measure=None, name: str = "X") -> GroupData:
    """Stack subjects into a GroupData.

    Parameters
    ----------
    data : array-like (n_subjects, n_times) or (n_subjects, n_train, n_test), or dict
        A dict maps subject names to TimeResolvedRDM (-> ``measure(result)``, default its
        ``mean_timecourse()``), GeneralizationRDM (-> ``mean_map()``) or arrays of one subject.
    times, test_times : array-like or None
        Sample times of arrays (results carry their own; giving both raises).
    measure : callable or None
        ``measure(result) -> (n_times,)`` for TimeResolvedRDMs.
    name : str
        The argument's name, for messages.
    """
    if isinstance(data, dict):
        return _from_dict(data, times, test_times, measure, name)
    if is_time_resolved(data) or is_generalization(data):
        raise TypeError(f"Invalid value for {name!r}: one subject's result. A group test needs a dict "
                        "{subject: result} of at least 2 subjects (e.g. the output of eeg_rdms).")
    X = np.asarray(data, dtype=np.float64) if not hasattr(data, "detach") else data.detach().cpu().numpy()
    X = np.asarray(X, dtype=np.float64)
    if X.ndim not in (2, 3):
        raise ValueError(f"Invalid shape for {name!r}: {X.shape}. Expected (n_subjects, n_times) or "
                         "(n_subjects, n_train_times, n_test_times).")
    subjects = [str(i) for i in range(X.shape[0])]
    return GroupData(X, subjects, _axis("times", times, X.shape[1]),
                     _axis("test_times", test_times, X.shape[2]) if X.ndim == 3 else _no_test(test_times),
                     None, "value")


def _no_test(test_times):
    if test_times is not None:
        raise ValueError("test_times is only for (n_subjects, n_train, n_test) maps; these data are 1-D per subject.")
    return None


def _axis(name: str, t, n: int) -> Optional[np.ndarray]:
    if t is None:
        return None
    t = np.asarray(t, dtype=np.float64)
    if t.shape != (n,):
        raise ValueError(f"Invalid shape for {name!r}: {t.shape}; the data have {n} samples on that axis.")
    return t


def _from_dict(results: dict, times, test_times, measure, name: str) -> GroupData:
    if not results:
        raise ValueError(f"Invalid value for {name!r}: an empty dict. Give {{subject: result}} for 2+ subjects.")
    subjects = list(results)
    values = list(results.values())
    if all(is_time_resolved(v) for v in values):
        if times is not None or test_times is not None:
            raise ValueError("The results carry their own times; do not pass times= / test_times= with them.")
        get = measure or (lambda r: r.mean_timecourse())
        rows = {s: np.asarray(get(r), dtype=np.float64) for s, r in results.items()}
        for s, row in rows.items():
            if row.shape != np.shape(results[s].times):
                raise ValueError(f"measure({s!r}) returned shape {row.shape}; expected one value per time "
                                 f"point {np.shape(results[s].times)}.")
        t = _same_axis("times", {s: r.times for s, r in results.items()})
        return GroupData(np.stack(list(rows.values())), subjects, t, None, _chance(results),
                         _label(results, "value"))
    if all(is_generalization(v) for v in values):
        if times is not None or test_times is not None:
            raise ValueError("The results carry their own times; do not pass times= / test_times= with them.")
        tr = _same_axis("train times", {s: r.train_times for s, r in results.items()})
        te = _same_axis("test times", {s: r.test_times for s, r in results.items()})
        X = np.stack([np.asarray(r.mean_map(), dtype=np.float64) for r in values])
        return GroupData(X, subjects, tr, te, _chance(results), _label(results, "value"))
    kinds = {type(v).__name__ for v in values}
    if any(is_time_resolved(v) or is_generalization(v) for v in values):
        raise TypeError(f"Invalid value for {name!r}: a dict mixing kinds of results ({sorted(kinds)}); "
                        "give one kind (all TimeResolvedRDM, all GeneralizationRDM, or all arrays).")
    rows = [np.asarray(v, dtype=np.float64) for v in values]
    shapes = {s: r.shape for s, r in zip(subjects, rows)}
    if len(set(shapes.values())) > 1:
        raise ValueError(f"The subjects' arrays in {name!r} have different shapes: {shapes}.")
    gd = group_data(np.stack(rows), times=times, test_times=test_times, name=name)
    return GroupData(gd.X, subjects, gd.times, gd.test_times, None, "value")


def check_finite_group(data: GroupData, name: str = "X") -> None:
    """ValueError naming the subjects and the first samples (times) that are NaN or inf."""
    bad = ~np.isfinite(data.X)
    if not bad.any():
        return
    per_subject = bad.reshape(bad.shape[0], -1).sum(axis=1)
    where = []
    for k in np.flatnonzero(per_subject)[:5]:
        idx = tuple(int(i) for i in np.argwhere(bad[k])[0])
        at = [f"index {idx}"]
        if data.times is not None:
            at.append(f"time {data.times[idx[0]]:.4g}")
        if data.test_times is not None and len(idx) > 1:
            at.append(f"test time {data.test_times[idx[1]]:.4g}")
        where.append(f"subject {data.subjects[k]!r}: {int(per_subject[k])} value(s), first at {', '.join(at)}")
    raise ValueError(f"{name} has NaN/inf values in {int((per_subject > 0).sum())} of {len(data.subjects)} "
                     f"subjects ({listed([data.subjects[k] for k in np.flatnonzero(per_subject)])}): "
                     + "; ".join(where) + ". A t test is undefined there: crop those times, or drop or "
                     "fix those subjects.")
