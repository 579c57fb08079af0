"""The model in a process of its own: ``client.ModelProcess`` (the server's side), ``__main__``
(the model process itself, ``python -m app.serving.model_process``) and ``protocol`` (the
frames between them)."""

from .client import ModelProcess, ModelProcessError, ModelProcessGone

__all__ = ["ModelProcess", "ModelProcessError", "ModelProcessGone"]
