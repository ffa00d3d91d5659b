"""What a run leaves on disk: atomic writes, the record's schema, the resumption checkpoint, the
lock that keeps one writer per run folder."""
