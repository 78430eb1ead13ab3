"""
A served export
===============

``save`` writes a run directory; :func:`vade_tf.exporting.export` turns it into the
versioned SavedModel that TF Serving loads. Here the SavedModel is loaded back with
TensorFlow alone, as TF Serving would load it, and its ``serving_default`` signature
answers for new rows exactly as the estimator does.
"""
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf
from sklearn.datasets import load_digits

from vade_tf import VaDEClustering
from vade_tf.exporting import export

X, _ = load_digits(return_X_y=True)
X = (X / 16).astype(np.float32)
model = VaDEClustering(n_clusters=10, pretrain_epochs=40, epochs=10, random_state=0)
model.fit(X[:1500])

folder = Path(tempfile.mkdtemp())
model.save(folder / "run")
written = export(folder / "run", folder / "models" / "vade")
saved_model = tf.saved_model.load(written["path"])
served = saved_model.signatures["serving_default"]
answer = served(x=tf.constant(X[1500:]))
same = np.array_equal(answer["cluster"].numpy(), model.predict(X[1500:]))
print(f"exported version {written['version']}; served clusters equal predict's: {same}")

# %%
# The served posterior of the first 40 new rows, one row each, beside the estimator's.
fig, (left, right) = plt.subplots(1, 2, figsize=(7, 4), sharey=True)
served_probs = answer["cluster_probs"].numpy()[:40]
left.imshow(served_probs, aspect="auto", cmap="viridis")
left.set_title("served: cluster_probs")
right.imshow(model.predict_proba(X[1500:1540]), aspect="auto", cmap="viridis")
right.set_title("VaDEClustering.predict_proba")
for ax in (left, right):
    ax.set_xlabel("cluster")
left.set_ylabel("new row")
fig.tight_layout()
plt.show()
