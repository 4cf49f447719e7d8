"""Venues: where the Engine's commands go and its events come from.

Theory of operation
-------------------
``base`` is the interface the run loop (``mmfsm.live``) uses and nothing else; every
venue-specific detail lives behind it. ``adapter.ClobVenue`` implements it for
Polymarket's CLOB protocol, which the embedded emulator (``mmfsm.emulator``) speaks too,
so the code that trades against the emulator is the code that trades on Polymarket.
``clob`` is the only module that imports the official client (``py-clob-client-v2``);
moving to another client is a change to that one module. ``wire`` reads Polymarket's
JSON into Engine events, ``netbook`` takes our own orders out of the books the Engine
sees, ``tracking`` maps client ids to venue ids and deduplicates fills, ``reconcile``
judges the venue's state at start-up, and ``stream`` keeps a WebSocket subscribed.
"""

from mmfsm.venues.base import MarketInfo, StartupRefused, Venue, VenueError

__all__ = ["MarketInfo", "StartupRefused", "Venue", "VenueError"]
