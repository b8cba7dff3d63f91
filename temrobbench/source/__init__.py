"""Stage 1, the source: COIN annotations (``coin``), which videos qualify (``eligibility``) and the
synthetic stand-ins for COIN (``synth``, ``prior_world``)."""
