"""One module per sub-command; each exposes ``register(subparsers)``."""

from trainer.commands import datasets, demo_data, importing, render

COMMANDS = (demo_data, importing, render, datasets)
