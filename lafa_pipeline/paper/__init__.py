"""Reproduction of the paper's three cases: data readers and generators, scoring, tuning, report.

Not part of the remote code saved with a repo: nothing in the core imports this package.
"""

CASES = ("sst", "webnlg", "nyt", "laptops")
"""The paper's cases: I (WebNLG, NYT relations), II (SST sentiment), III (a generated laptop price catalogue)."""
