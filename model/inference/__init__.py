"""Using a trained bundle: prediction (``predictor``, ``windows``, ``fast_rnn``, ``batches``), the
prediction's shape (``prediction``), explanations (``explain``) and scores against gold labels
(``scoring``). Never imports ``model.training`` or ``model.distill``.
"""
