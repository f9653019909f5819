"""The payment gateway simulator's pieces (for the demo and tests; never a store's
gateway). :mod:`.bills` writes the providers' daily statements in their bill formats."""
