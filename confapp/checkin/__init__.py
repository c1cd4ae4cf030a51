"""The door: admitting tickets, online and from offline devices, and the door's counters."""
