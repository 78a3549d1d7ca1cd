"""The task dropout_forward: its hidden checks and the calls they make into student code."""
