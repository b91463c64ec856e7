"""One module per sub-command; each exposes ``register(subparsers)``."""

from trainer.commands import datasets, demo_data, evaluate, importing, render, train

COMMANDS = (demo_data, importing, render, datasets, train, evaluate)
