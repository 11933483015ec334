"""k-means labels of continuous features, as HuBERT makes its targets (scikit-learn's
MiniBatchKMeans, which its ``simple_kmeans`` recipe uses too)."""

import numpy as np
from sklearn.cluster import MiniBatchKMeans

BATCH_SIZE = 10000
INIT_SIZE_FACTOR = 3
N_INIT = 3
MAX_NO_IMPROVEMENT = 100


def kmeans_labels(features: np.ndarray, clusters: int, sample: int, seed: int) -> np.ndarray:
    """Fit ``clusters`` centroids on at most ``sample`` random frames, label every frame."""
    rng = np.random.default_rng(seed)
    fit_on = features
    if len(features) > sample:
        fit_on = features[rng.choice(len(features), sample, replace=False)]
    clusters = min(clusters, len(fit_on))
    kmeans = MiniBatchKMeans(
        n_clusters=clusters,
        batch_size=BATCH_SIZE,
        init_size=min(len(fit_on), INIT_SIZE_FACTOR * max(clusters, BATCH_SIZE)),
        n_init=N_INIT,
        max_no_improvement=MAX_NO_IMPROVEMENT,
        random_state=seed,
    )
    kmeans.fit(fit_on)
    return kmeans.predict(features)
