"""Building what LAFA explains with: the embedded default repo, fine-tuning, sharded index builds.

Not part of the remote code saved with a repo: nothing in the core imports this package.
"""
