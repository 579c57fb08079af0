"""The model in a process of its own: ``client.ModelProcess`` (the server's side), ``__main__``
(the model process itself, ``python -m app.serving.model_process``) and ``frames`` (the
frames between them). Empty on purpose: the model process imports this package first, and needs
nothing of the server's side (every import here would delay its start after a crash)."""
