"""Following training runs without a GUI: tail their files (:mod:`~engine.runs.tail`), read the catalogue
(:mod:`~engine.runs.scan`), reduce their events to a state (:mod:`~engine.runs.state`), tell whether a recorded
pid is still the trainer (:mod:`engine.catalog.run_status`) and how a trainer that is gone ended
(:mod:`~engine.runs.ending`). Used by the app's runs model and by ``trainer runs``; see docs/ARCHITECTURE.md.
"""
