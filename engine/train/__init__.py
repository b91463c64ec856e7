"""The training loop (``loop``), its objective and DDP helpers, and zero-shot runs (``zero_shot``)."""
