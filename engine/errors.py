"""The base of every error Crossfold reports to a person as one line (file and problem named)."""


class CrossfoldError(Exception):
    """A problem with the user's input or workspace, not a bug; str() is the whole message."""
