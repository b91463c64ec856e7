"""One module per sub-command; each exposes ``register(subparsers)``."""

from trainer.commands import datasets, demo, demo_data, evaluate, importing, index, models, render, search, train

COMMANDS = (demo, demo_data, importing, render, datasets, models, train, evaluate, index, search)
