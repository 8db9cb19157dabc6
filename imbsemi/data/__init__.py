"""Data layer: sources -> long-tailed selection -> pools -> batches (in memory, or split files streamed from disk)."""
