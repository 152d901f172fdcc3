"""The model and how it is trained: LSTM weights and forward pass, the two engines, one training path."""
