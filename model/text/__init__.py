"""Text into token ids: the tokenizers (``tokenizer``) and the writing-system detection (``scripts``).

Imports no other part of ``model`` but ``model.config``, and no torch.
"""
