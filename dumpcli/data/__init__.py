"""Data stage: ingest JSONL/Parquet and generators, tag, split, dedup, write Arrow + manifest."""
