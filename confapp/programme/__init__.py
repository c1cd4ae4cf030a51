"""The programme: conference, rooms, tracks, speakers and sessions."""
