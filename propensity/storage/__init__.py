"""What a run leaves on disk: atomic writes, the record's schema, the resumption checkpoint."""
