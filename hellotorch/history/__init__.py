"""Every run kept in one SQLite database, and each case's trend and change points. Imports no torch."""
