"""The course's JupyterHub on one machine: accounts, course root, exchange, hub (``make hub``).

``python -m coursekit.hub setup|run|stop|clean``: see ``__main__.py``. What the set-up makes is
recorded in ``<root>/made.json`` so that ``clean`` removes exactly that. docs/hub-instructors.md
explains the same layout on The Littlest JupyterHub and Zero to JupyterHub.
"""
