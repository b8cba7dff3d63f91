"""What a run reports: the metric tables (``tables``) and the self-contained HTML explorer
(``explorer``, with its template ``explorer.html.j2``)."""
