"""LeRobot datasets: reader and writer for v3.0 and v2.1, laid out as LeRobot itself lays them out.

**v3.0** (LeRobot ``CODEBASE_VERSION = "v3.0"``)::

    meta/info.json                 schema (features), integer fps, path templates, totals
    meta/stats.json                per feature: min/max/mean/std/count and q01/q10/q50/q90/q99
    meta/tasks.parquet             task string (index) → task_index
    meta/episodes/chunk-*/file-*.parquet
                                   one row per episode: episode_index, tasks, length, data/chunk_index,
                                   data/file_index, dataset_from_index, dataset_to_index, per video key
                                   videos/<key>/{chunk_index,file_index,from_timestamp,to_timestamp},
                                   stats/<feature>/<stat>, meta/episodes/{chunk_index,file_index}
    meta/workbench.json            ours: short task names, sources, generator notes (LeRobot ignores it)
    data/chunk-*/file-*.parquet    one row per frame; many episodes per file
    videos/<key>/chunk-*/file-*.mp4
                                   many episodes per file; an episode is a time segment starting on a key frame

An episode is the row range ``[dataset_from_index, dataset_to_index)`` of the concatenated data files
(global ``index`` column) and the segment ``[from_timestamp, to_timestamp)`` of its video file.

**v2.1**: one parquet and one mp4 per episode (``data/chunk-000/episode_000000.parquet``,
``videos/chunk-000/<key>/episode_000000.mp4``), episodes, their stats and tasks in
``meta/episodes.jsonl``, ``meta/episodes_stats.jsonl`` and ``meta/tasks.jsonl``.

Feature keys written and understood (others are kept as ``extras``):

=====================================  ======================================================
``action``                             ``Episode.actions``
``observation.state``                  ``Episode.state``
``observation.ee_pos`` / ``ee_quat``   end-effector position and scalar-last quaternion
``observation.gripper``                gripper opening
``observation.hand_keypoints``         ``(K, 4, 4)`` world transforms stored flat (``T[k,r,c]``),
                                       skeleton in the feature's ``info``; ``hand_confidence`` ``(K,)``
``observation.images.<cam>``           RGB video
``observation.depth.<cam>``            16-bit PNG images, millimetres
``observation.segmentation.<cam>``     8-bit PNG label images, label names in the feature's ``info``
``observation.camera.<cam>.intrinsics`` 3×3 stored as 9 values ``K[0,0] … K[2,2]``
``observation.camera.<cam>.extrinsics`` 4×4 camera-to-world (OpenCV) as 16 values ``T_world_camera[r,c]``
``episode.success``                    per-frame copy of the episode's success (1, 0, -1 unknown)
``episode.camera_setup``               per-frame codes of the episode's and each camera's setup
=====================================  ======================================================

Every feature is 1-D, as LeRobot's dataset tools and Rerun's ``LeRobotReader`` require; the
reader reshapes a flat feature back to the layout its ``names`` spell. Checked against lerobot
0.4.4, lerobot-doctor 0.2.0 and rerun-sdk 0.41 (see the README's Datasets section).
"""

from workbench.data.lerobot.reader import LeRobotDataset, is_lerobot
from workbench.data.lerobot.writer import write_lerobot

__all__ = ["LeRobotDataset", "write_lerobot", "is_lerobot"]
