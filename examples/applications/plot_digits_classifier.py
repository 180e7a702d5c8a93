"""
A digits classifier and its learning curves
===========================================

The bundled UCI handwritten digits (1,797 8×8 images) with a 64-64-64-10 ReLU network,
softmax cross-entropy and minibatch momentum SGD. ``fit`` holds out a validation split and
records the training loss, validation loss and validation accuracy per epoch in its
:class:`fastbp.History`.
"""

import matplotlib.pyplot as plt

import fastbp as fb

data = fb.datasets.load_digits()
X_train, X_test, y_train, y_test = fb.datasets.train_test_split(
    data.X / 16, data.y, test_fraction=0.2, seed=0, stratify=True
)
spec = fb.NetworkSpec([64, 64, 64, 10], "relu", "softmax_cross_entropy")
net = fb.Network(spec, init="he_normal", seed=0)
hist = net.fit(
    X_train,
    y_train,
    epochs=40,
    batch_size=16,
    optimizer="momentum",
    lr=0.02,
    momentum=0.9,
    validation_fraction=0.15,
    seed=0,
    progress=False,
)
print(
    f"test accuracy {net.score(X_test, y_test):.3f} after {len(hist.loss)} epochs "
    f"({sum(hist.seconds):.2f} s of training)"
)

# %%
# Learning curves
# ---------------
# ``hist.loss`` is the mean training loss over each epoch's steps; ``val_loss`` and
# ``val_score`` are measured on the held-out 15 % after each epoch.

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(8, 3.4))
ax1.semilogy(hist.epoch, hist.loss, label="training")
ax1.semilogy(hist.epoch, hist.val_loss, label="validation")
ax1.set_xlabel("epoch")
ax1.set_ylabel("cross-entropy")
ax1.legend()
ax2.plot(hist.epoch, hist.val_score)
ax2.set_xlabel("epoch")
ax2.set_ylabel("validation accuracy")
fig.suptitle("64-64-64-10 ReLU on the digits")
fig.tight_layout()
plt.show()
