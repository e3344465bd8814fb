"""actionlens workbench: datasets, training and analysis of action-grounded visual representations."""

from __future__ import annotations

import os

# MuJoCo picks its GL backend on import: EGL renders headless (Mesa's software EGL on the CPU).
os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
# numba's OpenMP layer loads a second OpenMP runtime beside torch's; once a parallel DTW kernel has
# run, torch's convolutions in the same process slow down about 6×. The workqueue layer avoids
# that; workbench.dtw serialises its parallel calls because workqueue is not thread-safe.
os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")

__version__ = "0.1.0"
