import sys

from engine.errors import CrossfoldError
from trainer.priority import lower_priority

# Lowered before the heavy imports (torch, open_clip): a trainer started by the app spends its first seconds
# importing, and at the GUI's priority that alone would make the GUI wait for a core.
try:
    lower_priority()
except CrossfoldError as exc:
    print(f"trainer: error: {exc}", file=sys.stderr)
    sys.exit(2)

from trainer.cli import main  # noqa: E402

sys.exit(main())
