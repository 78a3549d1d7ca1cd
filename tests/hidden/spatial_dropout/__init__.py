"""The task spatial_dropout: its hidden checks and the calls they make into student code."""
