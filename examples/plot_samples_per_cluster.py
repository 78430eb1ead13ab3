"""
New digits from each cluster
============================

VaDE is generative: ``sample`` draws z from a cluster's Gaussian in the latent and x
from the decoder's Bernoulli pixels, the paper's generative process. Each row holds new
images of one cluster, after the mean of the cluster's members.
"""
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits

from vade_tf import VaDEClustering

X, _ = load_digits(return_X_y=True)
X = X / 16
model = VaDEClustering(n_clusters=10, pretrain_epochs=40, epochs=10, random_state=0)
model.fit(X)

fig, axes = plt.subplots(10, 7, figsize=(4.5, 7))
for cluster, row in enumerate(axes):
    row[0].imshow(X[model.labels_ == cluster].mean(axis=0).reshape(8, 8), cmap="gray_r")
    drawn, _ = model.sample(6, cluster=cluster)
    for ax, image in zip(row[1:], drawn):
        ax.imshow(np.clip(image, 0, 1).reshape(8, 8), cmap="gray_r")
    for ax in row:
        ax.set_axis_off()
fig.suptitle("each cluster's mean, then six images drawn from it", fontsize=8)
fig.tight_layout()
plt.show()
