"""The vision job: the contrastive losses of :mod:`clrl.losses` trained and measured on images.

``python -m clrl.train vision`` runs :func:`clrl.vision.train.train`; ``python -m clrl.evaluate
vision`` runs :func:`clrl.vision.evaluate.evaluate`. :mod:`~clrl.vision.model` builds and loads the
model, :mod:`~clrl.vision.metrics` holds the probes (linear, kNN, OOD AUROC, L1 regression).
"""
