"""PySide6 screens of the terminal. Everything here runs on the GUI thread unless noted."""
