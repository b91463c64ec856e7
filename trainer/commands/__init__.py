"""One module per sub-command; each exposes ``register(subparsers)``."""

from trainer.commands import (
    datasets,
    demo,
    demo_data,
    doctor,
    evaluate,
    export,
    importing,
    index,
    models,
    pack,
    render,
    runs,
    search,
    train,
)

COMMANDS = (demo, demo_data, importing, render, pack, datasets, models, train, runs, evaluate, index, search, export,
            doctor)
