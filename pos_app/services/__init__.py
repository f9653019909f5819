"""Use cases of the terminal: sign-in, catalogue, checkout, receipts. No Qt here.

Each public method opens its own SQLAlchemy session for one user action and returns
frozen values, never ORM objects, so results may cross threads.
"""
