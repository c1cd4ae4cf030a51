"""Registration: ticket types and places, the register flow, cancellation, the attendee's own
ticket page and mail."""

# The attendee mails register their builders with the outbox when the package is imported.
from confapp.registration import mail as _mail  # noqa: F401
