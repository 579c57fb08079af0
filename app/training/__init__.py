"""The training half: uploaded datasets (``datasets``), the job queue (``jobs``), the runner that
starts and watches training processes (``runner``) and the training process itself
(``training_process``). Imports nothing from ``app.http`` or ``app.serving``."""
