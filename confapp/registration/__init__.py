"""Registration: ticket types and places, the register flow, cancellation, the attendee's own
ticket page and mail."""
