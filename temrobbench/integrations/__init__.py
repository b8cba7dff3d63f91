"""Thin adapters that run TemRobBench inside other evaluation toolkits (DESIGN.md §6).

Each adapter reuses the one prompt renderer (``temrobbench.prompt``), the evaluation protocol
(``temrobbench.evaluation.protocol``), the answer parser and ``temrobbench.metrics.compute``:
the same responses give the same numbers whichever toolkit asked the questions.
"""
