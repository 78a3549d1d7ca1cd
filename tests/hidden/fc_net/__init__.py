"""The task fc_net: its hidden checks and the calls they make into student code."""
