"""Benchmarks: speed, scale and sampling against the base methods and the peers.

Each module runs as ``python -m benchmarks.<name>`` from the repository root (``--help`` says what it
measures); ``benchmarks.performance`` writes RESULTS.md from all of them. Shared helpers live in
``benchmarks.common``. Nothing runs at import.
"""
