"""One way up to the Hub: a folder uploaded as one commit to a repo created if needed.

The pipeline, an index and ``lafa push`` all upload through here, so a change in how uploads are
made (a revision, a private repo) is made once.

Example (against a local stand-in for the Hub, as the tests do)::

    commit_url = push_saved(explainer.save_pretrained, "me/my-lafa-repo", token=token)
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from typing import Any


def upload_folder(
    folder: str | os.PathLike,
    repo_id: str,
    commit_message: str,
    token: str | bool | None = None,
    private: bool | None = None,
    revision: str | None = None,
    repo_type: str | None = None,
) -> tuple[str, str]:
    """Upload every file of ``folder`` to ``repo_id`` (created if needed; ``repo_type="dataset"`` for a
    dataset repo); returns (repo id, commit URL).

    The returned repo id is the Hub's full name (``user/name`` when ``name`` alone was given).
    """
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    repo_id = api.create_repo(repo_id, private=private, exist_ok=True, repo_type=repo_type).repo_id
    commit = api.upload_folder(
        repo_id=repo_id,
        folder_path=os.fspath(folder),
        commit_message=commit_message,
        revision=revision,
        repo_type=repo_type,
    )
    return repo_id, str(commit)


def push_saved(save: Callable[[str], Any], repo_id: str, commit_message: str, **kwargs: Any) -> str:
    """``save(folder)`` into a temporary folder, then upload that folder; returns the commit URL."""
    with tempfile.TemporaryDirectory() as tmp:
        save(tmp)
        return upload_folder(tmp, repo_id, commit_message, **kwargs)[1]
