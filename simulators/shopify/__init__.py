"""Local, faithful fake of the Shopify Admin GraphQL API (2026-10) for the sync agent's tests.

Requests are executed with graphql-core against the real 2026-10 schema, so a document that
Shopify would reject for schema reasons is rejected here too. Run-time rules Shopify enforces
(mandatory @idempotent, explicit changeFromQuantity, cost limits, throttling) live in
`app.py` / `rules.py` / `cost.py`; the shop itself in `state.py` / `inventory.py`, online orders,
fulfillment orders and fulfillments in `orders.py` (views in `order_views.py`).

    from simulators.shopify.server import start
    sim = start(port=0, data_dir=tmp_path, seed_products=20)
    ... sim.graphql_url, sim.token ...
    sim.stop()
"""

API_VERSION = "2026-10"
