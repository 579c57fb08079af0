"""The network: the RNN classifier (``rnn``) and the pretrained token embeddings it can start from
(``embeddings``). Imports no other part of ``model`` but ``model.config``.
"""
