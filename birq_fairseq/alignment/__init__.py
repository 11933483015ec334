"""Frame-level phone alignments: the reference that label quality is measured against."""
