"""The serving half: the one interface the HTTP layer calls (``inference``), the model process that
runs the network (``model_process``), comparisons of versions (``compare``) and the listener for
activations made elsewhere (``activations``). Imports nothing from ``app.http`` or ``app.training``."""
