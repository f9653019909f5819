"""Soak: short fault-and-kill rounds against one HQ and a few tills (see ``__main__``)."""
