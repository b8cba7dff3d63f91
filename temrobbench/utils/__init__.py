"""Helpers every stage may use, importing no stage: atomic files, JSON lines and media suffixes
(``files``), the OpenAI client (``openai_client``), the errors a user can fix (``errors``), Hub and
server probes (``hub_checks``), number formats (``formatting``)."""
