"""Session-state keys, prefixed by the page that owns them."""

ROOTS = "global_roots"  # list[str]: folders searched for datasets
DATASET = "global_dataset"  # str: path of the chosen dataset (mirrors the sidebar's picker)
RUN = "global_run"  # str | None: path of the chosen run (mirrors the sidebar's picker)
SIDEBAR_DATASET = "sidebar_dataset"  # the sidebar's dataset picker (a dataset path)
SIDEBAR_RUN = "sidebar_run"  # the sidebar's run picker (a run path)
LAST_DATASET = "sidebar_last_dataset"  # the dataset the page inputs were made for
DATASETS_EPISODE = "datasets_episode"
DATASETS_FRAME = "datasets_frame"
DATASETS_STREAMS = "datasets_streams"
JOBS_RUNS_ROOT = "jobs_runs_root"
JOBS_LAUNCHED = "jobs_launched"  # list[str]: ids of the runs launched in this session, newest last
PLAYBACK_GOTO = "playback_goto"  # (dataset path, episode, frame) another page asks Playback to show
#: the pages whose inputs belong to one dataset: their keys are dropped when the dataset changes
DATASET_PAGES = ("datasets_", "playback_", "latent_", "neighbours_", "saliency_")
