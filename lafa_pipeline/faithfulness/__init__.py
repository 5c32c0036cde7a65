"""Measuring explanations: agreement with gold rationales and faithfulness to the model.

Not part of the remote code saved with a repo: nothing in the core imports this package.
"""
