"""Calendar feeds (iCalendar) and frab schedule exports of the public programme."""
