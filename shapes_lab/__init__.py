"""Building the ReCo-Shapes miniature and the studies behind its docs (repository only, not installed).

The miniature's runtime (its files, world, metrics, benchmark and demo) is `reco_core.shapes`; this package
trains it from scratch (`build`), installs it into `reco_core/shapes/weights/`, and runs the studies whose
tables are docs/benchmark.md (`ablation`), docs/region.md (`region`) and docs/edit-settings.md (`settings`).
It reads `configs/` and writes `docs/`, so it runs from a checkout: `python -m shapes_lab --help`.
"""
