"""The answer of a response: read from its text (``parsing``) or picked from option scores
(``picking``)."""
