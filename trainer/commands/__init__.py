"""One module per sub-command; each exposes ``register(subparsers)``."""

from trainer.commands import datasets, demo, demo_data, evaluate, importing, index, pack, render, search, train

COMMANDS = (demo, demo_data, importing, render, pack, datasets, train, evaluate, index, search)
