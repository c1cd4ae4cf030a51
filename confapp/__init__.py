"""confapp: an event and conference platform for socialist and left gatherings."""

__version__ = "0.1.0"
