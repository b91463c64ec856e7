"""Checking and repairing a workspace: the catalogue's integrity (``checks``), restoring from backups and re-reading
the runs folder (``repair``, ``runs_on_disk``). A use-case over the catalogue, the run folders and the indexes.
"""
