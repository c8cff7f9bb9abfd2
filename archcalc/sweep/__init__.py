"""Many models at many sizes: resumable JSONL sweeps in isolated worker processes, shards and
merges."""
