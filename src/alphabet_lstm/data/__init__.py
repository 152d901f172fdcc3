"""The data: the dataset kinds (which patterns a framing learns) and their encoding."""
