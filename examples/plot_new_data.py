"""
Clusters for new data
=====================

Fit on part of the digits and assign digits the model has never seen: ``predict_proba``
gives each new row's posterior over the clusters, gamma = p(c | z).
"""
import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from vade_tf import VaDEClustering

X, _ = load_digits(return_X_y=True)
X_fit, X_new = train_test_split(X / 16, test_size=0.2, random_state=0)
model = VaDEClustering(n_clusters=10, pretrain_epochs=40, epochs=10, random_state=0)
model.fit(X_fit)
gamma = model.predict_proba(X_new)

# %%
# Six new digits, and the probability the model gives each cluster.
fig, axes = plt.subplots(2, 6, figsize=(9, 3), gridspec_kw={"height_ratios": [1, 1.2]})
for column in range(6):
    axes[0, column].imshow(X_new[column].reshape(8, 8), cmap="gray_r")
    axes[0, column].set_axis_off()
    axes[1, column].bar(range(10), gamma[column])
    axes[1, column].set_ylim(0, 1)
    axes[1, column].set_xticks(range(10))
    axes[1, column].tick_params(labelsize=6)
axes[1, 0].set_ylabel("p(cluster | x)")
fig.tight_layout()
plt.show()
