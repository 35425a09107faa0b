"""Independent float64 reference RDMs (scipy, sklearn): what the distance tests compare against."""
import numpy as np
from scipy.spatial.distance import cdist, pdist, squareform
from scipy.stats import spearmanr
from sklearn.covariance import ledoit_wolf

#: our distance names (and synonyms) -> scipy's metric names
SCIPY_METRIC = {
    "correlation": "correlation", "pearson": "correlation", "cosine": "cosine",
    "euclidean": "euclidean", "l2": "euclidean", "sqeuclidean": "sqeuclidean",
    "manhattan": "cityblock", "l1": "cityblock", "cityblock": "cityblock",
    "chebyshev": "chebyshev",
}


def reference(x, name):
    """Independent float64 reference RDM for a distance name."""
    x = np.asarray(x, dtype=np.float64)
    if name in SCIPY_METRIC:
        return squareform(pdist(x, SCIPY_METRIC[name]))
    if name == "spearman":
        return 1 - spearmanr(x, axis=1)[0]
    if name == "mahalanobis":
        vi = np.linalg.inv(ledoit_wolf(x)[0])       # same shrunk covariance, computed by sklearn
        return cdist(x, x, "mahalanobis", VI=vi)
    raise KeyError(name)
