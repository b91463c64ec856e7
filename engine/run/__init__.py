"""One run: its options (``config``), its folder on disk (``folder``), its checkpoint format (``checkpoint``), its
events (``events``), its device and precision (``device``), the flags that launch it (``flags``) and restoring its
model for inference (``restore``). Submodules load lazily: importing this package imports no torch.
"""
