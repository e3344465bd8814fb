"""actionlens workbench: datasets, training and analysis of action-grounded visual representations."""

from __future__ import annotations

import os

# MuJoCo picks its GL backend on import: EGL renders headless (Mesa's software EGL on the CPU).
os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
# numba's OpenMP threading layer and torch each bring an OpenMP runtime; with the default (active)
# wait policy the idle threads of one spin while the other works, and torch's convolutions in the
# same process slow down 2–6× once a parallel DTW kernel has run. Passive waiting removes that and
# keeps numba on its thread-safe OpenMP layer (the app runs DTW and UMAP from several threads).
# It must be set before either runtime starts: import workbench before torch.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
