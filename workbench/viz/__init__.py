"""Visualisation: plotly figure builders, Rerun logging and blueprints, image overlays.

Each module imports its plotting library itself, so importing :mod:`workbench.viz` costs nothing;
import the module you need (``from workbench.viz.rerun import log_episode``).
"""
