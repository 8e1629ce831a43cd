"""The production settings ``make serve`` uses, with the hand-written baselines of
``bench/hand_views.py`` mounted under ``/hand/`` (``bench/load.py`` loads both side by side)."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
