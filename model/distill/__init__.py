"""Knowledge distillation: a fine-tuned transformer teaches the RNN (Tang et al. 2019).

``python -m model distill`` runs four stages, each cached in a work folder and skipped when its
output is there for the same inputs (``pipeline``): fine-tune a teacher (``teacher``, Hugging Face
``transformers``), augment the training texts into a transfer set (``augment``), label every
transfer text with the teacher's logits (``transfer``: a safetensors file with a checksum, so
the student can be retrained without the teacher), and train the RNN on those logits plus the
labels (``model.training.loop.train`` with ``model.training.targets.SoftTargets``: soft targets are a
training input, so they live with training, which never imports this package).

Only ``teacher`` imports ``transformers``, the optional extra ``[distill]``; importing this
package or ``augment`` / ``transfer`` does not, and the service never does.
"""

from __future__ import annotations

import importlib

EXTRA_HINT = "pip install -e '.[distill]'"


class MissingExtra(RuntimeError):
    """An optional dependency is not installed; the message names the extra that provides it."""


def require_transformers() -> None:
    """Raise ``MissingExtra`` (one line, naming the extra) unless ``transformers`` imports."""
    try:
        importlib.import_module("transformers")
    except ImportError as exc:
        raise MissingExtra(
            f"distillation needs Hugging Face transformers ({exc}); install the extra: {EXTRA_HINT}"
        ) from None
