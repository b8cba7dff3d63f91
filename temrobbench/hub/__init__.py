"""Stage 4, the Hub layout of a built folder: Parquet shards, ``dataset_info`` and the dataset card,
the push plan and the reader, the ``datasets`` builder; the card templates live in ``templates/``."""
