"""Datasets: one entry point for every layout (:mod:`.layouts`), readers and writers per format,
validation, chunking, normalisation, the text vocabulary, the training samples
(:mod:`.training_samples`) and the shipped sample datasets (:mod:`.shipped`). Data knows no model."""

from __future__ import annotations

from workbench.data.dataset import Dataset, Problem
from workbench.data.hand_pose import HandPoseDataset, write_hand_pose
from workbench.data.layouts import detect_layout, load_dataset, validate_dataset
from workbench.data.lerobot import LeRobotDataset, write_lerobot
from workbench.data.robomimic import RobomimicDataset, write_robomimic
from workbench.data.validate import check_episode
from workbench.types import DataError

__all__ = [
    "DataError",
    "Dataset",
    "HandPoseDataset",
    "LeRobotDataset",
    "Problem",
    "RobomimicDataset",
    "check_episode",
    "detect_layout",
    "load_dataset",
    "validate_dataset",
    "write_hand_pose",
    "write_lerobot",
    "write_robomimic",
]
