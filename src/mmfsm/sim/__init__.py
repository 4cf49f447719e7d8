"""The simulator: the Engine that trades live, against a simulated venue, in simulated time.

Theory of operation
-------------------
A trader must see what the bot does before it trades real money, and the strategy
document's claims must be measured. So the simulator drives the unchanged ``Engine``
(and, for comparison, a naive baseline) with a venue that behaves like Polymarket's
CLOB where it matters to a market maker: price-time priority with a queue-position
model, latency on every message, post-only rejects, minimum size, tick-size changes,
MATCHED -> CONFIRMED/FAILED trades, API outages. The market is either generated
(named scenarios) or replayed from recorded L2 books, with fills inferred from them.

One module, one job:

``schedule``    the deterministic (time, seq) priority queue that is the simulated clock
``latency``     the wire: per-channel FIFO delays between strategy and venue
``queue``       the queue-position model (hftbacktest-style probabilistic, exact ints)
``crowd``       the other participants' book, YES terms
``venue``       matching, order checks, trade lifecycle, outages, published books
``flow``        generated markets: fair price, crowd, informed and noise takers
``replay``      recorded books in, fill inference, resolution at the recorded payout
``baseline``    the naive maker the Engine is compared with
``strategy``    the interface the loop drives (the Engine through a read-only adapter)
``invariants``  INV-HALT, INV-GRID, INV-EXPOSURE, INV-GAP after every step
``metrics``     the measured figures, from the venue's truth
``loop``        the run loop that ties them together
``scenarios``   the named scenarios and what each must show
``summary``     the text table and the JSON document
``report``      the HTML report, hand-written SVG
``cli``         ``mmfsm simulate``

This package is shell-side: it may use seeded ``random.Random`` (never the wall clock)
and nothing in ``mmfsm.core`` imports it. Prices, sizes and money are exact integers
throughout; floats appear only in random generation and become integers before they
are an order, a book level or a trade.
"""

__all__: list[str] = []
