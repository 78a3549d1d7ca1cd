"""The task dropout_backward: its hidden checks and the calls they make into student code."""
