"""Stage 3, the build: the resumable pipeline from COIN to the built folder (``pipeline``) and the
video decoding/encoding it relies on (``video_io``)."""
