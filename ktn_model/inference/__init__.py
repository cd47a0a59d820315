"""Running a trained model over many inputs: early score filtering, shards, restartable runs, video tracking."""
