"""Pinned revisions of every Hugging Face dataset the registry names (issue 16, item 9).

A Hub dataset's ``main`` branch moves (and since ``datasets`` 4 a repo that still ships a loading script
cannot be loaded at all), so every :class:`~toolkit.tasks.spec.HubSource` of the built-in tasks and cards
names a revision; ``HubSource`` takes it from :data:`HUB_REVISIONS` when the source gives none, and each
result record stores it (``data_files``: ``hub:<path>/<config>/<split>`` -> revision).

Provenance (the Hub is not reachable from the development machines, so no pin was resolved here):

* a 40-hex commit is one that other public projects pin for the same repo and load with ``datasets``
  4.5-5.0 without ``trust_remote_code`` (found by code search; several independent projects agree on
  the xnli, squad, squad_v2, glue, snli, boolq, commonsense_qa and hellaswag commits). The commits of
  ``allenai/social_i_qa`` and ``allenai/cosmos_qa`` are commits of the Hub's parquet-export branch
  (``refs/convert/parquet``): their ``main`` holds only a loading script.
* :data:`PARQUET_EXPORT` (``refs/convert/parquet``), where no commit could be determined offline: the
  Hub's own parquet export of the dataset, which loads under ``datasets`` >= 4 whether or not ``main``
  holds a loading script (``universal-dependencies/universal_dependencies`` does). It is laid out
  ``<config>/<split>/*.parquet`` without config metadata, so :mod:`toolkit.data` loads a config of it as
  ``data_dir=<config>``. It follows ``main`` when ``main`` changes: replace it by the export's commit
  (``huggingface_hub.HfApi().list_repo_refs(repo, repo_type="dataset").converts``) when online.
"""

from __future__ import annotations

PARQUET_EXPORT = "refs/convert/parquet"

HUB_REVISIONS: dict[str, str] = {
    # target tasks (toolkit/tasks/xtreme_r.py)
    "facebook/xnli": "b8dd5d7af51114dbda02c0e3f6133f332186418e",
    "google-research-datasets/paws-x": "4cd8187c404bda33cb1f62b49b001115862acf37",
    "cambridgeltl/xcopa": "042f78955ba48e6404616762fa6e05e839c3907a",
    "google/xquad": "51adfef1c1287aab1d2d91b5bead9bcfb9c68583",
    "google/xtreme": PARQUET_EXPORT,
    "universal-dependencies/universal_dependencies": PARQUET_EXPORT,  # main: a loading script
    "unimelb-nlp/wikiann": PARQUET_EXPORT,
    "facebook/mlqa": PARQUET_EXPORT,
    "google-research-datasets/tydiqa": PARQUET_EXPORT,
    "google-research-datasets/xquad_r": PARQUET_EXPORT,
    # intermediate-task cards (adapters_zoo/*.yaml)
    "facebook/anli": "8e4813d81f46d313dac7892e1c28076917cfcdf9",
    "stanfordnlp/snli": "cdb5c3d5eed6ead6e5a341c8e56e669bb666725b",
    "nyu-mll/glue": "bcdcba79d07bc864c1c254ccfcedcce55bcc9a8c",
    "google/boolq": "35b264d03638db9f4ce671b711558bf7ff0f80d5",
    "tau/commonsense_qa": "94630fe30dad47192a8546eb75f094926d47e155",
    "aps/super_glue": "3de24cf8022e94f4ee4b9d55a6f539891524d646",
    "allenai/cosmos_qa": "ed50fe83db62b355759053b1cd5eef344ee371e0",  # refs/convert/parquet commit
    "Rowan/hellaswag": "218ec52e09a7e7462a5400043bb9a69a41d06b76",  # main, converted to parquet
    "google-research-datasets/paws": "161ece9501cf0a11f3e48bd356eaa82de46d6a09",
    "rajpurkar/squad": "7b6d24c440a36b6815f21b70d25016731768db1f",
    "rajpurkar/squad_v2": "3ffb306f725f7d2ce8394bc1873b24868140c412",
    "allenai/social_i_qa": "537a2ec8ec565adc0b70b70752893e59e024df26",  # refs/convert/parquet commit
}
