"""Helpers every stage may use: atomic files and JSON lines (``files``), the OpenAI client
(``openai_client``). Nothing here imports a stage."""
