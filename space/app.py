"""LAFA feature attribution in the browser (a Hugging Face Space, or locally: python space/app.py).

Serves the repo named by $LAFA_MODEL (Hub id or local folder), else the embedded default model.
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# On a Space lafa_pipeline/ is uploaded beside this file; in a checkout it is one level up.
for folder in (HERE, HERE.parent):
    if (folder / "lafa_pipeline").is_dir():
        sys.path.insert(0, str(folder))
        break

from lafa_pipeline.apps.space_app import main  # noqa: E402

if __name__ == "__main__":
    main()
