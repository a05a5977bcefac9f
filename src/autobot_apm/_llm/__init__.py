"""The helpers of track_llm: usage extraction, streams, content capture, records and settings."""
