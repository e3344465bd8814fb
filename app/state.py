"""Session-state keys, prefixed by the page that owns them."""

ROOTS = "global_roots"  # list[str]: folders searched for datasets
DATASET = "global_dataset"  # str: path of the chosen dataset
DATASETS_EPISODE = "datasets_episode"
DATASETS_FRAME = "datasets_frame"
DATASETS_STREAMS = "datasets_streams"
JOBS_RUNS_ROOT = "jobs_runs_root"
PLAYBACK_GOTO = "playback_goto"  # (dataset path, episode, frame) another page asks Playback to show
