"""One thin module per DVC stage: parse arguments, read, call the core, write atomically."""
