"""The room cache: one download per room (docs/room-cache.md).

``urls`` (pure): how hosts' URLs go through the cache. ``nginx``: the caching server's config.
``server``: serve, stop, status, verify on the controller. ``fill``: the offline fill.
"""
