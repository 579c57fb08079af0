"""Making a bundle: the training loop (``loop``) over the state ``setup`` prepares, ``auto``
choices, warm starts, calibration, multi-GPU training, the model card and the TF-IDF baseline.
Never imports ``model.distill``.
"""
