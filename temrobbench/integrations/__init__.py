"""Thin adapters that run TemRobBench inside other evaluation toolkits (docs/design.md, "Evaluation protocol").

Each adapter reuses the one prompt renderer (``temrobbench.prompt``), the evaluation protocol
(``temrobbench.evaluation.protocol``), the answer parser and ``temrobbench.metrics.compute``:
the same responses give the same numbers whichever toolkit asked the questions.
"""
