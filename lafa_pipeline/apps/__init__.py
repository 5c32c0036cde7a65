"""The user-facing applications: the ``lafa`` command line and the Gradio Space.

Not part of the remote code saved with a repo: nothing in the core imports this package.
"""
