"""Using a trained student: load a checkpoint, embed audio of any rate and length, fine-tune, export."""
