"""The serving half: model versions (``registry``), the dynamic batcher (``batcher``) and the model
process that runs the network (``model_process``). Imports nothing from ``app.http`` or
``app.training``."""
