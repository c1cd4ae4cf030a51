"""Registration: ticket types and places, the register flow, cancellation."""
