"""The instruction each simulated task is recorded with, and the way back from an instruction to its task.

Kept apart from :mod:`workbench.sim.metaworld` (which imports MuJoCo and metaworld) so a dataset
reader can name a task again from its instruction — what LeRobot's tools keep when they rewrite a
dataset without the workbench's own notes — without loading a simulator.
"""

from __future__ import annotations

__all__ = ["METAWORLD_INSTRUCTIONS", "task_of_instruction"]

#: One instruction template per metaworld task (the text methods read).
METAWORLD_INSTRUCTIONS = {
    "reach": "reach to the goal position",
    "push": "push the puck to the goal",
    "pick-place": "pick up the puck and place it at the goal",
    "drawer-open": "open the drawer",
    "button-press": "press the button",
    "door-open": "open the door",
}

_TASK_OF = {text: task for task, text in METAWORLD_INSTRUCTIONS.items()}


def task_of_instruction(instruction: str) -> str | None:
    """The task a simulated episode with this instruction was recorded for, or None."""
    return _TASK_OF.get(instruction.strip())
