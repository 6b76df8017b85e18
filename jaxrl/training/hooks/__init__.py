"""What happens between chunks, one concern per module: the loop trains a chunk and tells each
hook (`base.Hook`), in order; a hook that stops the run ends the chunk's round."""
