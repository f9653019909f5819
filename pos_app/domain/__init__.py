"""Pure business rules of the terminal: money, carts, barcodes, receipts, signing.

Nothing in this package performs I/O or imports anything outside the standard library.
"""
