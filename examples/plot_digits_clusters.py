"""
Clusters of the digits
======================

Fit :class:`~vade_tf.VaDEClustering` to scikit-learn's 8x8 digits, which it never sees
the labels of, and draw a few members of each cluster. The labels only score the result.
"""
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.metrics import normalized_mutual_info_score

from vade_tf import VaDEClustering

X, y = load_digits(return_X_y=True)
X = X / 16  # pixel counts 0-16 as intensities in [0, 1]
model = VaDEClustering(n_clusters=10, pretrain_epochs=40, epochs=10, random_state=0)
model.fit(X)
nmi = normalized_mutual_info_score(y, model.labels_)
print(f"NMI against the labels: {nmi:.3f}")

# %%
# Eight members of each cluster, one cluster a row, with its share of the samples.
fig, axes = plt.subplots(10, 8, figsize=(5, 7))
for cluster, row in enumerate(axes):
    members = np.flatnonzero(model.labels_ == cluster)
    for column, ax in enumerate(row):
        if column < len(members):
            ax.imshow(X[members[column]].reshape(8, 8), cmap="gray_r")
        ax.set_axis_off()
    share = len(members) / len(X)
    row[0].set_title(f"cluster {cluster}: {share:.0%}", fontsize=7, loc="left")
fig.tight_layout()
plt.show()
