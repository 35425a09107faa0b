"""Stimulus orderings: category grouping and hierarchical clustering (against scipy directly)."""
import numpy as np
import pytest
from scipy.cluster.hierarchy import leaves_list, linkage, optimal_leaf_ordering
from scipy.spatial.distance import pdist, squareform

from rdm_widgets.demo import demo_path
from rdm_widgets.ordering import (ORDERINGS, labels_from_names, order_by_clustering, order_by_labels,
                                  read_category_labels, stimulus_order)
from rdm_widgets.rdm import LayerRDM


def _planted(seed=0, sizes=(5, 7, 6)):
    """RDM of points in well-separated clusters, rows shuffled; returns (rdm, cluster id per row)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=10.0, size=(len(sizes), 8))
    x = np.concatenate([c + rng.normal(scale=0.5, size=(s, 8)) for c, s in zip(centres, sizes)])
    ids = np.repeat(np.arange(len(sizes)), sizes)
    perm = rng.permutation(len(ids))
    return squareform(pdist(x[perm])), ids[perm]


def test_order_by_labels_groups_stably():
    labels = ["b", "a", "b", "c", "a"]
    order = order_by_labels(labels)
    assert order.tolist() == [0, 2, 1, 4, 3]       # groups in order of first appearance, stable inside
    assert order_by_labels(labels, sort=True).tolist() == [1, 4, 0, 2, 3]


def test_clustering_matches_scipy_and_recovers_planted_clusters():
    m, ids = _planted()
    order = order_by_clustering(m)
    condensed = squareform(m, checks=False)
    ref = leaves_list(optimal_leaf_ordering(linkage(condensed, "average"), condensed))
    np.testing.assert_array_equal(order, ref)
    assert sorted(order.tolist()) == list(range(len(ids)))
    # each planted cluster is one contiguous run in the leaf order
    runs = np.flatnonzero(np.diff(ids[order])).size
    assert runs == 2
    # without optimal leaf ordering: plain scipy leaves
    np.testing.assert_array_equal(order_by_clustering(m, optimal=False),
                                  leaves_list(linkage(condensed, "average")))


def test_clustering_handles_float32_asymmetry_and_small_n():
    m, _ = _planted(1)
    m32 = m.astype(np.float32)
    m32[0, 1] += 1e-6  # float32 RDMs are symmetric only up to rounding
    assert sorted(order_by_clustering(m32).tolist()) == list(range(m.shape[0]))
    assert order_by_clustering(np.zeros((2, 2))).tolist() == [0, 1]
    with pytest.raises(ValueError, match="square"):
        order_by_clustering(np.zeros((3, 4)))
    bad = m.copy()
    bad[0, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        order_by_clustering(bad)


def test_stimulus_order_registry_and_labels():
    m, ids = _planted(2)
    names = [f"{'abc'[i]}_{k:02d}" for k, i in enumerate(ids)]
    rdm = LayerRDM(m, names, "layer")
    assert set(ORDERINGS) == {"original", "category", "cluster"}
    assert stimulus_order(rdm, "original").tolist() == list(range(len(names)))
    by_cat = stimulus_order(rdm, "category")
    cats = [names[i][0] for i in by_cat]
    assert cats == sorted(cats, key=lambda c: [n[0] for n in names].index(c))
    # explicit labels (dict) win over names
    flipped = {n: ("x" if n.startswith("a") else "y") for n in names}
    order = stimulus_order(rdm, "category", labels=flipped)
    first = [flipped[names[i]] for i in order]
    assert first == sorted(first, key=lambda v: 0 if v == first[0] else 1)
    with pytest.raises(ValueError, match="Did you mean 'cluster'"):
        stimulus_order(rdm, "clustr")
    with pytest.raises(ValueError, match="labels"):
        stimulus_order(rdm, "category", labels=["a", "b"])


def test_labels_from_names():
    assert labels_from_names(["dog_03", "image10", "cat-1", "42", "plain"]) == ["dog", "image", "cat", "42", "plain"]


def test_read_category_labels_of_bundled_minilm():
    labels = read_category_labels(demo_path("minilm"))
    assert len(labels) == 20 and labels["sent_01"] == "animal"
    assert len(set(labels.values())) == 4
    assert read_category_labels(demo_path("mobilenetv2")) == {}


def test_clustering_linkage_is_scipys_and_gives_the_cluster_order():
    from scipy.cluster.hierarchy import leaves_list, linkage, optimal_leaf_ordering
    from scipy.spatial.distance import pdist, squareform

    from rdm_widgets.ordering import clustering_linkage, order_by_clustering

    x = np.random.default_rng(2).normal(size=(11, 4))
    m = squareform(pdist(x))
    for method in ("average", "complete", "single", "weighted"):
        c = pdist(x)
        np.testing.assert_allclose(clustering_linkage(m, method), optimal_leaf_ordering(linkage(c, method), c))
        np.testing.assert_array_equal(leaves_list(clustering_linkage(m, method, optimal=False)),
                                      leaves_list(linkage(c, method)))
        np.testing.assert_array_equal(order_by_clustering(m, method), leaves_list(clustering_linkage(m, method)))
    with pytest.raises(ValueError, match="Invalid value for 'method': 'ward'"):
        clustering_linkage(m, "ward")
    with pytest.raises(ValueError, match="at least 2"):
        clustering_linkage(np.zeros((1, 1)))
