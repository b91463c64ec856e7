"""``trainer models [--json]``: model names, their open_clip pretrained tags, and which tags are cached locally."""

from __future__ import annotations

import argparse

from trainer.commands.common import add_json
from trainer.output import print_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="model names with their pretrained tags (and which are in the local cache)")
    p.add_argument("--cache-dir", default=None, metavar="DIR",
                   help="HuggingFace cache folder to look in (default: $HF_HUB_CACHE, i.e. $HF_HOME/hub)")
    p.add_argument("--all", action="store_true", help="also list architectures without pretrained tags")
    add_json(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from engine.models.pretrained import hub_cache_dir, list_models

    models = list_models(args.cache_dir)
    cache = hub_cache_dir(args.cache_dir)
    if args.json:
        print_json({"cache_dir": cache, "models": models})
        return 0
    print(f"pretrained tags marked * are in the local cache ({cache}); pass a tag with --pretrained TAG\n")
    for m in models:
        if not (m["shipped"] or m["pretrained"] or args.all):
            continue
        label = f"{m['name']}  (shipped with Crossfold)" if m["shipped"] else m["name"]
        tags = ", ".join(f"{t}*" if t in m["cached"] else t for t in m["pretrained"])
        print(f"{label}\n    {tags or '(no pretrained tags: random init, or --pretrained FILE)'}")
    return 0
